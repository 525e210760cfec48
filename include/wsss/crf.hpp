// SPDX-License-Identifier: MIT
// wsss/crf.hpp — umbrella for the dense CRF: filters, mean field, CRF-RNN, Bbox-Seg, search
#pragma once

#include "wsss/crf/concepts.hpp"
#include "wsss/crf/kernels.hpp"
#include "wsss/crf/permutohedral.hpp"
#include "wsss/crf/exact_filter.hpp"
#include "wsss/crf/compatibility.hpp"
#include "wsss/crf/image_plan.hpp"
#include "wsss/crf/mean_field.hpp"
#include "wsss/crf/device_mean_field.hpp"
#include "wsss/crf/mean_field_op.hpp"
#include "wsss/crf/sequential.hpp"
#include "wsss/crf/crf_rnn.hpp"
#include "wsss/crf/device_crf_rnn.hpp"
#include "wsss/crf/bbox.hpp"
#include "wsss/crf/param_search.hpp"
