#pragma once
// Umbrella header of the kbnn kernel library.
#include "kbnn/bconv2d.h"
#include "kbnn/bfully_connected.h"
#include "kbnn/bitpack.h"
#include "kbnn/bmaxpool2d.h"
#include "kbnn/dispatch.h"
#include "kbnn/status.h"
#include "kbnn/stem_conv2d.h"
#include "kbnn/threadpool.h"
#include "kbnn/types.h"
#include "kbnn/ukernel.h"
