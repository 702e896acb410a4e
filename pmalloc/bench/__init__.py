"""The benchmark runner behind `pmalloc bench`, shared with the suites in the repository's
bench/ (run.py, run_programs.py, run_pmem.py).

build       the C drivers (src/, shipped with the package), pmalloc's library, the anchors
runner      one process run, the contenders alternating, progress on stderr
stats       medians, spreads, ratios, targets
report      Markdown tables, number formats, the machine
allocators  the allocator suite: workloads, contenders, its tables
command     `pmalloc bench`: options, the run, --json
plot        `pmalloc bench --plot` (matplotlib, the `bench` extra)

Only `command` and `plot` import anything beyond the standard library: the runner's
children inherit its peak RSS (runner.run_process), so the suites keep it small.
"""
