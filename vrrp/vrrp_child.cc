// placeholder
#include "daemon/child.h"
int vigil::vrrp_child_main(ChildContext&) { return 0; }
