"""Results: baselines and test scoring, tables, the comparison of strategies,
suites (ranks, tests, verdicts), figures, export formats and the HTML report.

May import execution, search, models and data; never the top (``cli``, ``api``,
``config``, ``runner``).
"""
