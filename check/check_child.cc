// placeholder
#include "daemon/child.h"
int vigil::check_child_main(ChildContext&) { return 0; }
