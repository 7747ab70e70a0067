#!/bin/bash
# Issue 6's two-director LVS-DR scenario in the ip_vs guest (see
# lvs_dr_guest.sh for the topology and the assertions).
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
export top_srcdir
exec "$top_srcdir/tests/kernel/vm-run.sh" tests/kernel/lvs_dr_guest.sh "$@"
