"""Build this module's images with kotasks: `doit build:cmd/app`, `doit list`, `doit`."""

from kotasks import tasks

globals().update(tasks())
