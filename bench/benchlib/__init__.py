"""What the benchmark suites (bench/run*.py) share: builds, runs, statistics, Markdown.

build   paths, the C drivers of bench/src, pmalloc and the anchor libraries
runner  one process run, the contenders alternating, the common options
stats   medians, spreads, ratios, targets
report  Markdown tables, number formats, the machine, sections of RESULTS.md

Standard library only, so the suites run with any python3.
"""
