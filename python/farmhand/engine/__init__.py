"""The job engine: store, scheduler, job and chunk runs, the dispatcher and its process.

Only :mod:`farmhand.client` (and the ``farmhand dispatcher`` command that starts it) may import from here.
"""
