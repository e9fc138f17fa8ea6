"""``plaza bench``: benchmarks, each a module of this package that prints its tables and writes a report.

A bench module has ``add_arguments(parser)`` and ``run(config, args, report) -> int``;
:data:`bot.bench.cli.BENCHES` names them. The report (:mod:`bot.bench.report`)
is markdown plus PNG charts, headed by the machine the run measured
(:mod:`bot.bench.machine`). Benchmarks measure speed; the test suite never does.
"""
