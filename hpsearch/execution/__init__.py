"""Execution: where trials run and what they leave. Backends (in-process, loky,
Dask), the worker runtime, the objectives, the trial store and the run folder.

May import search, models and data; never results or the top.
"""
