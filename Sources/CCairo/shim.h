#ifndef GENTRAIN_CCAIRO_SHIM_H
#define GENTRAIN_CCAIRO_SHIM_H
#include <cairo.h>
#endif
