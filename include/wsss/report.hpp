// SPDX-License-Identifier: MIT
// wsss/report.hpp — umbrella for reporting: progress bars, CSV training logs, overlays, the
// HTML report page, run summaries (results.json, docs/results.md); link wsss::io
#pragma once

#include "wsss/report/cpu.hpp"
#include "wsss/report/csv_log.hpp"
#include "wsss/report/overlay.hpp"
#include "wsss/report/page.hpp"
#include "wsss/report/progress.hpp"
#include "wsss/report/results.hpp"
