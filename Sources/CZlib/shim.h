#ifndef PATCHRNN_CZLIB_SHIM_H
#define PATCHRNN_CZLIB_SHIM_H
#include <zlib.h>
#endif
