"""pmalloc's kinds from C, through memkind's API (tests/kind/c/kind_api.c)."""
from __future__ import annotations


def test_kind_api(c_program, pool_dir):
    exe = c_program.build("kind_api.c")
    run = c_program.run(exe, pool_dir, timeout=300)
    assert run.returncode == 0, run.describe()


HBW_PROGRAM = r"""
#include <errno.h>
#include <memkind.h>
#include <stdio.h>
#include <string.h>
#include <pmalloc.h>
int main(void) {
    int avail = memkind_check_available(MEMKIND_HBW);
    void *p = memkind_malloc(MEMKIND_HBW, 4096);
    printf("available=%d malloc=%s errmsg=%s\n", avail, p ? "ok" : "NULL", pmalloc_errormsg());
    if (p) { memset(p, 1, 4096); memkind_free(NULL, p); }
    return 0;
}
"""


def test_hbw_nodes_from_the_environment(c_program, tmp_path):
    """MEMKIND_HBW_NODES names the high-bandwidth nodes (node 0 exists everywhere); a bad
    value is MEMKIND_ERROR_ENVIRON with a message naming the variable, never a crash."""
    src = tmp_path / "hbw.c"
    src.write_text(HBW_PROGRAM)
    exe = c_program.build(src)
    good = c_program.run(exe, env={"MEMKIND_HBW_NODES": "0"})
    assert good.returncode == 0 and "available=0 malloc=ok" in good.stdout, good.describe()
    bad = c_program.run(exe, env={"MEMKIND_HBW_NODES": "zero"})
    assert bad.returncode == 0, bad.describe()
    assert "available=-12 malloc=NULL" in bad.stdout and "MEMKIND_HBW_NODES" in bad.stdout, (
        bad.describe())
