#pragma once

// senren-controller records into its daemon's registry (daemon/metrics.h): counters,
// gauges and histograms with the one bucket layout, served on --metrics-listen.

#include "daemon/metrics.h"

namespace senren::regional::controller {

using Metrics = ::senren::daemon::Metrics;

}  // namespace senren::regional::controller
