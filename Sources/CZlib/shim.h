#ifndef GENTRAIN_CZLIB_SHIM_H
#define GENTRAIN_CZLIB_SHIM_H
#include <zlib.h>
#endif
