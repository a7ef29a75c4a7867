"""Search: the space, trials (spec, result, decisions), seeds, budgets, the
strategies and the loop that runs them in waves.

May import :mod:`hpsearch.models` and :mod:`hpsearch.data`. The loop meets the
backend, the store and the objective only through the protocols it declares
(:mod:`hpsearch.search.loop`): execution implements them.
"""
