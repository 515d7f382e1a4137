"""``ko resolve`` for YAML text: find the ``ko://`` string scalars of a (multi-document) YAML or
JSON text with their exact character ranges (:mod:`.scan`), replace them by published image
references while leaving every other character untouched (:mod:`.rewrite`), and keep only the
documents — and the items of ``kind: List`` documents — that a Kubernetes label selector
matches (:mod:`.selector`, :mod:`.documents`). Everything works on PyYAML's event stream (libyaml
when available), which never expands aliases, so hostile input costs time and memory linear in
its size.
"""
