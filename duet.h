// duet: the umbrella header of the public API (DESIGN.md §1).
#pragma once

#include <duet/graph/error.h>
#include <duet/graph/types.h>
#include <duet/runtime/autodiff.h>
#include <duet/runtime/checkpoint.h>
#include <duet/runtime/control_flow.h>
#include <duet/runtime/data.h>
#include <duet/runtime/device.h>
#include <duet/runtime/losses.h>
#include <duet/runtime/nn.h>
#include <duet/runtime/optim.h>
#include <duet/runtime/ops.h>
#include <duet/runtime/tensor.h>
#include <duet/runtime/variable.h>
#include <duet/tracer/function.h>
#include <duet/tracer/saved.h>

