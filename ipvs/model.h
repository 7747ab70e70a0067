// IPVS model: placeholder
#pragma once
