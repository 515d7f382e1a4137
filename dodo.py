"""kotasks builds its own examples: `doit list`, `doit build:examples/hello/cmd/app`, `doit`."""

from kotasks import tasks

globals().update(tasks("examples/hello"))
