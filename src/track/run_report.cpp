#include "shardflow/track/run_report.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "shardflow/common/atomic_file.hpp"
#include "shardflow/common/error.hpp"
#include "shardflow/common/html.hpp"
#include "shardflow/table/timestamp.hpp"

namespace shardflow::track {

namespace fs = std::filesystem;

namespace {

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

// j[key] when j is an object holding it, else a null.
const nlohmann::json& field(const nlohmann::json& j, const char* key) {
  static const nlohmann::json null_json;
  if (!j.is_object()) return null_json;
  const auto it = j.find(key);
  return it == j.end() ? null_json : *it;
}

double number(const nlohmann::json& j) {
  return j.is_number() ? j.get<double>() : std::numeric_limits<double>::quiet_NaN();
}

std::vector<double> numbers(const nlohmann::json& j) {
  std::vector<double> out;
  if (j.is_array()) {
    for (const auto& v : j)
      out.push_back(number(v));
  }
  return out;
}

std::string fmt_num(double v) {
  if (std::isnan(v)) return "n/a";
  return fmt::format("{:.4g}", v);
}

std::string fmt_count(const nlohmann::json& j) {
  if (!j.is_number_integer()) return "n/a";
  // Thousands separated by thin spaces: 1 234 567.
  std::string digits = std::to_string(j.get<std::int64_t>());
  std::string out;
  const size_t sign = digits[0] == '-' ? 1 : 0;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > sign && (digits.size() - i) % 3 == 0) out += "&#8201;";
    out += digits[i];
  }
  return out;
}

std::string note(std::string_view name, std::string_view text) {
  return fmt::format("<p class=\"note\" data-note=\"{}\">{}</p>\n", name, html_escape(text));
}

// ---------------------------------------------------------------------------------------------
// Line charts
// ---------------------------------------------------------------------------------------------

struct Series {
  std::string name;
  std::string color;
  std::vector<double> x, y;
  bool markers = false;
};

struct Range {
  double lo = 0, hi = 1;
};

// The finite values' range, padded by 5% when `pad` (a curve's values, so that none sits on the
// frame); a single value gets a unit-wide range around it.
Range range_of(const std::vector<double>& v, bool pad) {
  Range r{std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity()};
  for (const double x : v) {
    if (!std::isfinite(x)) continue;
    r.lo = std::min(r.lo, x);
    r.hi = std::max(r.hi, x);
  }
  if (!(r.lo <= r.hi)) return {0, 1};
  if (r.lo == r.hi) return {r.lo - 0.5, r.hi + 0.5};
  const double margin = pad ? (r.hi - r.lo) * 0.05 : 0.0;
  return {r.lo - margin, r.hi + margin};
}

// An SVG line chart of one series (finite points only) with framed axes, five ticks per axis and
// the raw values in data-values. `fixed` sets both axes' ranges (the ROC's unit square).
std::string line_chart(std::string_view chart, const Series& s, std::string_view x_label,
                       std::string_view y_label, std::optional<Range> fixed = std::nullopt,
                       std::string_view extra = "") {
  constexpr double kWidth = 640, kHeight = 300, kLeft = 64, kRight = 16, kTop = 16, kBottom = 44;
  const double pw = kWidth - kLeft - kRight, ph = kHeight - kTop - kBottom;
  std::vector<double> xs, ys;
  for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
    if (std::isfinite(s.x[i]) && std::isfinite(s.y[i])) {
      xs.push_back(s.x[i]);
      ys.push_back(s.y[i]);
    }
  }
  const Range rx = fixed ? *fixed : range_of(xs, false);
  const Range ry = fixed ? *fixed : range_of(ys, true);
  const auto px = [&](double x) { return kLeft + (x - rx.lo) / (rx.hi - rx.lo) * pw; };
  const auto py = [&](double y) { return kTop + ph - (y - ry.lo) / (ry.hi - ry.lo) * ph; };
  std::string svg = fmt::format(
      "<svg class=\"chart\" data-chart=\"{}\" data-points=\"{}\" width=\"{}\" height=\"{}\" "
      "viewBox=\"0 0 {} {}\" role=\"img\">\n"
      "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#fff\" stroke=\"#999\"/>\n",
      chart, xs.size(), kWidth, kHeight, kWidth, kHeight, kLeft, kTop, pw, ph);
  for (int t = 0; t <= 4; ++t) {
    const double fx = rx.lo + (rx.hi - rx.lo) * t / 4, fy = ry.lo + (ry.hi - ry.lo) * t / 4;
    svg += fmt::format(
        "<line x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\" stroke=\"#eee\"/>"
        "<text x=\"{0:.1f}\" y=\"{3}\" class=\"tick\" text-anchor=\"middle\">{4}</text>\n",
        px(fx), kTop, kTop + ph, kTop + ph + 14, fmt_num(fx));
    svg += fmt::format(
        "<line x1=\"{1}\" y1=\"{0:.1f}\" x2=\"{2}\" y2=\"{0:.1f}\" stroke=\"#eee\"/>"
        "<text x=\"{3}\" y=\"{4:.1f}\" class=\"tick\" text-anchor=\"end\">{5}</text>\n",
        py(fy), kLeft, kLeft + pw, kLeft - 4, py(fy) + 4, fmt_num(fy));
  }
  svg += fmt::format(
      "<text x=\"{}\" y=\"{}\" class=\"axis\" text-anchor=\"middle\">{}</text>"
      "<text x=\"14\" y=\"{}\" class=\"axis\" text-anchor=\"middle\" transform=\"rotate(-90 14 "
      "{})\">{}</text>\n",
      kLeft + pw / 2, kHeight - 6, html_escape(x_label), kTop + ph / 2, kTop + ph / 2,
      html_escape(y_label));
  svg += extra;
  std::string points, values;
  for (size_t i = 0; i < xs.size(); ++i) {
    points += fmt::format("{}{:.1f},{:.1f}", i == 0 ? "" : " ", px(xs[i]), py(ys[i]));
    values += fmt::format("{}{:.6g},{:.6g}", i == 0 ? "" : " ", xs[i], ys[i]);
  }
  svg += fmt::format(
      "<polyline class=\"series\" data-series=\"{}\" data-points=\"{}\" data-values=\"{}\" "
      "points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>\n",
      html_escape(s.name), xs.size(), values, points, s.color);
  if (s.markers) {
    for (size_t i = 0; i < xs.size(); ++i)
      svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"/>", px(xs[i]),
                         py(ys[i]), s.color);
    svg += "\n";
  }
  return svg + "</svg>\n";
}

// ---------------------------------------------------------------------------------------------
// Sections
// ---------------------------------------------------------------------------------------------

std::string summary_section(const nlohmann::json& record) {
  const nlohmann::json& steps = field(record, "steps");
  size_t reused = 0, total = steps.is_array() ? steps.size() : 0;
  if (steps.is_array()) {
    for (const auto& s : steps)
      reused += field(s, "reused").is_boolean() && field(s, "reused").get<bool>() ? 1 : 0;
  }
  const nlohmann::json& job = field(record, "job");
  const nlohmann::json& fp = field(record, "fingerprint");
  const double peak = number(field(field(record, "memory"), "peak_rss_bytes"));
  return fmt::format(
      "<h1>Run report: {}</h1>\n<table class=\"kv\" data-table=\"summary\">"
      "<tr><th>ranks</th><td>{}</td></tr><tr><th>seconds</th><td>{}</td></tr>"
      "<tr><th>steps</th><td>{} ({} reused from the stage cache)</td></tr>"
      "<tr><th>peak memory per rank</th><td>{} MiB</td></tr>"
      "<tr><th>job fingerprint</th><td><code>{}</code></td></tr></table>\n",
      html_escape(job.is_string() ? job.get<std::string>() : "?"),
      fmt_count(field(record, "ranks")), fmt_num(number(field(record, "seconds"))), total, reused,
      fmt_num(peak / (1024.0 * 1024.0)), html_escape(fp.is_string() ? fp.get<std::string>() : "?"));
}

// At most this many points of the per-step loss are drawn (evenly strided, the last kept): an
// SVG path of a million points would make the page unusable and says nothing more.
constexpr size_t kMaxLossPoints = 2000;

std::string training_section(const nlohmann::json& record,
                             const std::vector<std::pair<idx_t, double>>& train_losses) {
  std::string html = "<h2>Training</h2>\n";
  const nlohmann::json& train = field(record, "train");
  if (!train.is_object()) return html + note("training", "no training in this job");
  const auto text = [](const nlohmann::json& j) {
    return j.is_string() ? j.get<std::string>() : std::string("?");
  };
  html +=
      fmt::format("<p>{} model ({}), {} parameters, {} steps{}.</p>\n",
                  html_escape(text(field(train, "model"))), html_escape(text(field(train, "task"))),
                  fmt_count(field(train, "parameters")), fmt_count(field(train, "steps")),
                  field(train, "reused").is_boolean() && field(train, "reused").get<bool>()
                      ? ", reused from a finished checkpoint"
                      : "");
  html += "<h3>Batch loss per step</h3>\n";
  if (train_losses.empty()) {
    html += note("loss", "no training step ran in this run (the model was reused)");
  } else {
    Series s{"batch loss", "#1f77b4", {}, {}, false};
    const size_t stride = (train_losses.size() + kMaxLossPoints - 1) / kMaxLossPoints;
    for (size_t i = 0; i < train_losses.size(); i += stride) {
      s.x.push_back(static_cast<double>(train_losses[i].first));
      s.y.push_back(train_losses[i].second);
    }
    if (static_cast<double>(train_losses.back().first) != s.x.back()) {
      s.x.push_back(static_cast<double>(train_losses.back().first));
      s.y.push_back(train_losses.back().second);
    }
    html += line_chart("loss", s, "training step", "batch loss");
    if (stride > 1)
      html += fmt::format("<p class=\"small\">every {}th of {} steps drawn</p>\n", stride,
                          train_losses.size());
  }
  html += "<h3>Mean loss per epoch</h3>\n";
  const std::vector<double> epoch_loss = numbers(field(train, "epoch_loss"));
  if (epoch_loss.empty()) {
    html += note("epochs", "no epoch completed in this run");
  } else {
    Series s{"epoch loss", "#ff7f0e", {}, epoch_loss, true};
    for (size_t e = 0; e < epoch_loss.size(); ++e)
      s.x.push_back(static_cast<double>(e + 1));
    html += line_chart("epochs", s, "epoch (of this run)", "mean batch loss");
  }
  html += "<h3>Validation metric per epoch</h3>\n";
  const nlohmann::json& early = field(train, "early_stopping");
  const std::vector<double> history = numbers(field(early, "history"));
  if (!early.is_object()) {
    html += note("validation",
                 "no validation metric: the job has no train.early_stopping, which measures one "
                 "after every epoch");
  } else if (history.empty()) {
    html += note("validation", "no epoch completed, so no validation metric was measured");
  } else {
    const std::string metric = field(early, "metric").is_string()
                                   ? field(early, "metric").get<std::string>()
                                   : std::string("metric");
    const std::string input = field(early, "input").is_string()
                                  ? field(early, "input").get<std::string>()
                                  : std::string("?");
    Series s{metric, "#2ca02c", {}, history, true};
    for (size_t e = 0; e < history.size(); ++e)
      s.x.push_back(static_cast<double>(e + 1));
    html += line_chart("validation", s, "epoch", metric + " on '" + input + "'");
    html += fmt::format("<p>best: {} after epoch {}{}</p>\n",
                        fmt_num(number(field(early, "best_value"))),
                        fmt_count(field(early, "best_epoch")),
                        field(early, "stopped").is_boolean() && field(early, "stopped").get<bool>()
                            ? " (stopped early)"
                            : "");
  }
  return html;
}

struct StepTimes {
  std::string name;
  std::vector<double> compute, comm, io;  // by rank
};

// Each step's per-rank split; a record without per_rank (an older metrics.json) gives one lane
// from the step's own numbers.
std::vector<StepTimes> step_times(const nlohmann::json& steps) {
  std::vector<StepTimes> out;
  for (const auto& s : steps) {
    StepTimes t;
    t.name = field(s, "name").is_string() ? field(s, "name").get<std::string>() : "?";
    const nlohmann::json& per_rank = field(s, "per_rank");
    t.compute = numbers(field(per_rank, "compute_seconds"));
    t.comm = numbers(field(per_rank, "comm_seconds"));
    t.io = numbers(field(per_rank, "io_seconds"));
    if (t.compute.empty() || t.comm.size() != t.compute.size() || t.io.size() != t.compute.size()) {
      const double seconds = number(field(s, "seconds"));
      const double comm =
          std::isnan(number(field(s, "comm_seconds"))) ? 0.0 : number(field(s, "comm_seconds"));
      const double io =
          std::isnan(number(field(s, "io_seconds"))) ? 0.0 : number(field(s, "io_seconds"));
      t.compute = {std::max(0.0, seconds - comm - io)};
      t.comm = {comm};
      t.io = {io};
    }
    out.push_back(std::move(t));
  }
  return out;
}

// Training and evaluation, after the steps, when the record times them per rank (an older
// metrics.json does not): named "(train)" and "(evaluate)", which no table name can be.
void append_phase_times(const nlohmann::json& record, std::vector<StepTimes>& out) {
  for (const char* phase : {"train", "evaluate"}) {
    const nlohmann::json& per_rank = field(field(record, phase), "per_rank");
    StepTimes t;
    t.name = fmt::format("({})", phase);
    t.compute = numbers(field(per_rank, "compute_seconds"));
    t.comm = numbers(field(per_rank, "comm_seconds"));
    t.io = numbers(field(per_rank, "io_seconds"));
    if (!t.compute.empty() && t.comm.size() == t.compute.size() && t.io.size() == t.compute.size())
      out.push_back(std::move(t));
  }
}

constexpr const char* kComputeColor = "#4c78a8";
constexpr const char* kCommColor = "#f58518";
constexpr const char* kIoColor = "#54a24b";

std::string timeline_chart(const std::vector<StepTimes>& steps) {
  size_t ranks = 0;
  for (const auto& s : steps)
    ranks = std::max(ranks, s.compute.size());
  double longest = 0;
  for (size_t r = 0; r < ranks; ++r) {
    double total = 0;
    for (const auto& s : steps) {
      if (r < s.compute.size()) total += s.compute[r] + s.comm[r] + s.io[r];
    }
    longest = std::max(longest, total);
  }
  if (!(longest > 0)) longest = 1;
  constexpr double kLabel = 70, kWidth = 900, kLane = 26, kGap = 8, kTop = 8;
  const double pw = kWidth - kLabel - 20;
  const double height = kTop + static_cast<double>(ranks) * (kLane + kGap) + 34;
  std::string svg = fmt::format(
      "<svg class=\"chart\" data-chart=\"timeline\" data-lanes=\"{}\" data-steps=\"{}\" "
      "width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" role=\"img\">\n",
      ranks, steps.size(), kWidth, height, kWidth, height);
  for (size_t r = 0; r < ranks; ++r) {
    const double y = kTop + static_cast<double>(r) * (kLane + kGap);
    svg += fmt::format(
        "<g class=\"lane\" data-rank=\"{}\"><text x=\"0\" y=\"{:.1f}\" class=\"label\">rank "
        "{}</text>\n",
        r, y + kLane / 2 + 4, r);
    double t = 0;
    for (const auto& s : steps) {
      if (r >= s.compute.size()) continue;
      const double parts[3] = {s.compute[r], s.comm[r], s.io[r]};
      const char* names[3] = {"compute", "comm", "io"};
      const char* colors[3] = {kComputeColor, kCommColor, kIoColor};
      const double step_start = t;
      for (int k = 0; k < 3; ++k) {
        const double w = parts[k] / longest * pw;
        svg += fmt::format(
            "<rect data-part=\"{}\" data-rank=\"{}\" data-step=\"{}\" data-seconds=\"{:.6g}\" "
            "x=\"{:.2f}\" y=\"{:.1f}\" width=\"{:.2f}\" height=\"{}\" fill=\"{}\"><title>{} on "
            "rank {}: {} {:.4g} s</title></rect>\n",
            names[k], r, html_escape(s.name), parts[k], kLabel + t / longest * pw, y, w, kLane,
            colors[k], html_escape(s.name), r, names[k], parts[k]);
        t += parts[k];
      }
      // A thin separator marks where each step ends.
      svg += fmt::format(
          "<line x1=\"{0:.2f}\" y1=\"{1:.1f}\" x2=\"{0:.2f}\" y2=\"{2:.1f}\" stroke=\"#fff\" "
          "stroke-width=\"1\"><title>{3}: {4:.4g} s</title></line>\n",
          kLabel + t / longest * pw, y, y + kLane, html_escape(s.name), t - step_start);
    }
    svg += "</g>\n";
  }
  const double axis_y = kTop + static_cast<double>(ranks) * (kLane + kGap) + 4;
  for (int k = 0; k <= 4; ++k) {
    svg += fmt::format(
        "<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"tick\" "
        "text-anchor=\"middle\">{} s</text>\n",
        kLabel + pw * k / 4, axis_y + 12, fmt_num(longest * k / 4));
  }
  const char* legend[3][2] = {
      {"compute", kComputeColor}, {"communication", kCommColor}, {"I/O", kIoColor}};
  for (int k = 0; k < 3; ++k) {
    svg += fmt::format(
        "<rect x=\"{0}\" y=\"{1:.1f}\" width=\"10\" height=\"10\" fill=\"{2}\"/><text x=\"{3}\" "
        "y=\"{4:.1f}\" class=\"label\">{5}</text>\n",
        kLabel + k * 140, axis_y + 18, legend[k][1], kLabel + k * 140 + 14, axis_y + 27,
        legend[k][0]);
  }
  return svg + "</svg>\n";
}

// Horizontal bars, two per step: rows read (the sum of its input tables) and rows written.
std::string rows_chart(const nlohmann::json& steps) {
  struct Bar {
    std::string step;
    const char* kind;
    double rows;
  };
  std::vector<Bar> bars;
  double most = 0;
  for (const auto& s : steps) {
    const std::string name =
        field(s, "name").is_string() ? field(s, "name").get<std::string>() : "?";
    for (const auto& [key, kind] : {std::pair{"rows_in", "in"}, std::pair{"rows", "out"}}) {
      const nlohmann::json& tables = field(s, key);
      if (!tables.is_object()) continue;
      double sum = 0;
      bool known = !tables.empty();
      for (const auto& [table, n] : tables.items()) {
        if (!n.is_number()) known = false;
        sum += number(n);
      }
      if (!known) continue;  // an input the run did not read
      bars.push_back({name, kind, sum});
      most = std::max(most, sum);
    }
  }
  if (!(most > 0)) most = 1;
  constexpr double kLabel = 150, kBar = 560, kRow = 16;
  const double height = static_cast<double>(bars.size()) * kRow + 30;
  std::string svg = fmt::format(
      "<svg class=\"chart\" data-chart=\"rows\" data-bars=\"{}\" width=\"{}\" height=\"{}\" "
      "viewBox=\"0 0 {} {}\" role=\"img\">\n",
      bars.size(), kLabel + kBar + 110, height, kLabel + kBar + 110, height);
  std::string previous;
  for (size_t i = 0; i < bars.size(); ++i) {
    const Bar& b = bars[i];
    const double y = static_cast<double>(i) * kRow + 4;
    const double w = std::max(1.0, b.rows / most * kBar);
    if (b.step != previous) {
      svg += fmt::format("<text x=\"0\" y=\"{:.1f}\" class=\"label\">{}</text>", y + 11,
                         html_escape(b.step));
    }
    previous = b.step;
    const bool in = std::string_view(b.kind) == "in";
    svg += fmt::format(
        "<rect data-kind=\"{}\" data-step=\"{}\" data-rows=\"{:.0f}\" x=\"{}\" y=\"{:.1f}\" "
        "width=\"{:.1f}\" height=\"{}\" fill=\"{}\"><title>{} rows {}: {:.0f}</title></rect>"
        "<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"tick\">{} {:.0f}</text>\n",
        b.kind, html_escape(b.step), b.rows, kLabel, y, w, kRow - 3, in ? "#b0b0b0" : "#72b7b2",
        html_escape(b.step), in ? "in" : "out", b.rows, kLabel + w + 4, y + 10, in ? "in" : "out",
        b.rows);
  }
  const double axis_y = static_cast<double>(bars.size()) * kRow + 18;
  svg += fmt::format(
      "<text x=\"{}\" y=\"{:.1f}\" class=\"tick\">0</text><text x=\"{}\" "
      "y=\"{:.1f}\" class=\"tick\" text-anchor=\"end\">{:.0f} rows</text>\n",
      kLabel, axis_y, kLabel + kBar, axis_y, most);
  return svg + "</svg>\n";
}

std::string steps_section(const nlohmann::json& record) {
  std::string html = "<h2>Steps</h2>\n";
  const nlohmann::json& steps = field(record, "steps");
  if (!steps.is_array() || steps.empty()) return html + note("steps", "no steps in this job");
  html +=
      "<h3>Timeline per rank</h3>\n<p class=\"small\">Each lane is a rank, each bar a step, "
      "split into compute, communication (time inside MPI calls) and I/O (reading inputs, stage "
      "files and checkpoints, writing stage files and checkpoints), in the order the steps ran, "
      "then training and evaluation as (train) and (evaluate). Writing the outputs and the "
      "report is not on it.</p>\n";
  std::vector<StepTimes> lanes = step_times(steps);
  append_phase_times(record, lanes);
  html += timeline_chart(lanes);
  html += "<h3>Rows in and out per step</h3>\n";
  html += rows_chart(steps);
  html +=
      "<table data-table=\"steps\"><tr><th>step</th><th>op</th><th>reused</th><th>seconds</th>"
      "<th>comm s</th><th>I/O s</th><th>rows out</th></tr>\n";
  for (const auto& s : steps) {
    double out = 0;
    for (const auto& [table, n] : field(s, "rows").items())
      out += number(n);
    const nlohmann::json& reused = field(s, "reused");
    html += fmt::format(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.0f}</td>"
        "</tr>\n",
        html_escape(field(s, "name").is_string() ? field(s, "name").get<std::string>() : "?"),
        html_escape(field(s, "op").is_string() ? field(s, "op").get<std::string>() : "?"),
        reused.is_boolean() && reused.get<bool>() ? "yes" : "no",
        fmt_num(number(field(s, "seconds"))), fmt_num(number(field(s, "comm_seconds"))),
        fmt_num(number(field(s, "io_seconds"))), out);
  }
  return html + "</table>\n<p class=\"small\">seconds, comm and I/O: rank 0's.</p>\n";
}

// A range value as the report shows it: timestamps as ISO text, integers exactly.
std::string range_value(const nlohmann::json& v, const std::string& type) {
  if (v.is_null()) return "";
  if (type == "timestamp" && v.is_number_integer()) {
    std::string out;
    table::append_timestamp(v.get<std::int64_t>(), out);
    return html_escape(out);
  }
  if (v.is_number_integer()) return std::to_string(v.get<std::int64_t>());
  return fmt_num(number(v));
}

std::string inputs_section(const nlohmann::json& record) {
  std::string html = "<h2>Inputs</h2>\n";
  const nlohmann::json& inputs = field(record, "inputs");
  if (!inputs.is_object() || inputs.empty()) return html + note("inputs", "no inputs in this job");
  for (const auto& [name, input] : inputs.items()) {
    const nlohmann::json& profile = field(input, "profile");
    const nlohmann::json& rejected = field(input, "rejected_rows");
    const std::string format =
        field(input, "format").is_string() ? field(input, "format").get<std::string>() : "?";
    html += fmt::format("<h3>{} <span class=\"small\">({})</span></h3>\n", html_escape(name),
                        html_escape(format));
    if (!profile.is_object()) {
      html += note("input-" + name,
                   fmt::format("input '{}' was not read in this run: every step that reads it "
                               "was reused from the stage cache",
                               name));
      continue;
    }
    html += fmt::format("<p>{} rows; {}.</p>\n", fmt_count(field(profile, "rows")),
                        rejected.is_number_integer()
                            ? fmt::format("{} rows rejected (bad_rows)", fmt_count(rejected))
                            : std::string("no rows rejected (the format rejects none)"));
    const nlohmann::json& columns = field(profile, "columns");
    html += fmt::format(
        "<table data-table=\"input\" data-input=\"{}\" data-columns=\"{}\"><tr><th>column</th>"
        "<th>type</th><th>nulls</th><th>min</th><th>max</th><th>distinct</th></tr>\n",
        html_escape(name), columns.is_array() ? columns.size() : 0);
    if (columns.is_array()) {
      for (const auto& c : columns) {
        const std::string type =
            field(c, "type").is_string() ? field(c, "type").get<std::string>() : "?";
        const bool exact =
            !field(c, "distinct_exact").is_boolean() || field(c, "distinct_exact").get<bool>();
        html += fmt::format(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td></tr>\n",
            html_escape(field(c, "name").is_string() ? field(c, "name").get<std::string>() : "?"),
            html_escape(type), fmt_count(field(c, "nulls")), range_value(field(c, "min"), type),
            range_value(field(c, "max"), type), fmt_count(field(c, "distinct")),
            exact ? "" : " <span class=\"small\">approx.</span>");
      }
    }
    html += "</table>\n";
  }
  return html;
}

std::string evaluation_section(const nlohmann::json& record) {
  std::string html = "<h2>Evaluation</h2>\n";
  const nlohmann::json& evaluate = field(record, "evaluate");
  const nlohmann::json& metrics = field(record, "metrics");
  if (!evaluate.is_object()) return html + note("evaluation", "no evaluation in this job");
  html += fmt::format(
      "<p>on table '{}', {} rows.</p>\n",
      html_escape(field(evaluate, "input").is_string() ? field(evaluate, "input").get<std::string>()
                                                       : "?"),
      fmt_count(field(evaluate, "rows")));
  html += "<table data-table=\"metrics\"><tr><th>metric</th><th>value</th></tr>\n";
  if (metrics.is_object()) {
    for (const auto& [name, value] : metrics.items()) {
      html += fmt::format("<tr><td>{}</td><td>{}</td></tr>\n", html_escape(name),
                          value.is_number() ? fmt::format("{:.6g}", value.get<double>())
                                            : std::string("not computable"));
    }
  }
  html += "</table>\n<h3>Confusion matrix</h3>\n";
  const nlohmann::json& confusion = field(evaluate, "confusion_matrix");
  const nlohmann::json& counts = field(confusion, "counts");
  const std::vector<double> classes = numbers(field(confusion, "classes"));
  if (!counts.is_array() || counts.empty()) {
    html += note("confusion",
                 "no confusion matrix: the model is not a classifier, or there were "
                 "no rows to evaluate");
  } else {
    std::int64_t total = 0, most = 1;
    for (const auto& row : counts) {
      for (const auto& n : row) {
        total += n.get<std::int64_t>();
        most = std::max(most, n.get<std::int64_t>());
      }
    }
    html += fmt::format(
        "<table class=\"confusion\" data-table=\"confusion\" data-total=\"{}\"><tr><th>true \\ "
        "predicted</th>",
        total);
    for (const double c : classes)
      html += fmt::format("<th>{}</th>", fmt_num(c));
    html += "</tr>\n";
    for (size_t t = 0; t < counts.size(); ++t) {
      html += fmt::format("<tr><th>{}</th>",
                          t < classes.size() ? fmt_num(classes[t]) : std::to_string(t));
      for (size_t p = 0; p < counts[t].size(); ++p) {
        const auto n = counts[t][p].get<std::int64_t>();
        const double shade = static_cast<double>(n) / static_cast<double>(most);
        html += fmt::format("<td data-count=\"{}\" style=\"background:rgba({},{:.2f})\">{}</td>", n,
                            t == p ? "44,160,44" : "214,39,40", 0.1 + 0.6 * shade,
                            fmt_count(nlohmann::json(n)));
      }
      html += "</tr>\n";
    }
    html += "</table>\n";
    if (field(confusion, "threshold").is_number())
      html +=
          fmt::format("<p class=\"small\">predicted 1 when the probability is at least {}</p>\n",
                      fmt_num(number(field(confusion, "threshold"))));
  }
  html += "<h3>ROC curve</h3>\n";
  const nlohmann::json& roc = field(evaluate, "roc");
  const std::vector<double> fpr = numbers(field(roc, "fpr")), tpr = numbers(field(roc, "tpr"));
  if (fpr.empty() || fpr.size() != tpr.size()) {
    html +=
        note("roc", "no ROC curve: it is drawn for binary classifiers evaluated on both classes");
  } else {
    const double auc = number(field(roc, "auc"));
    // The chance diagonal, in the chart's own coordinates (see line_chart's margins).
    const std::string diagonal =
        "<line x1=\"64\" y1=\"256\" x2=\"624\" y2=\"16\" stroke=\"#bbb\" "
        "stroke-dasharray=\"4 4\"/>\n";
    html += "<div class=\"roc\">" + line_chart("roc", Series{"ROC", "#d62728", fpr, tpr, false},
                                               "false positive rate", "true positive rate",
                                               Range{0, 1}, diagonal);
    html += fmt::format(
        "<p class=\"auc\" data-auc=\"{:.17g}\">AUC (exact) <b>{:.6f}</b><br><span "
        "class=\"small\">curve: {} score bins</span></p></div>\n",
        auc, auc, fmt_count(field(roc, "bins")));
  }
  return html;
}

constexpr const char* kStyle =
    "body{font-family:DejaVu Sans,Helvetica,Arial,sans-serif;margin:24px 32px;color:#222;"
    "max-width:1000px}h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ddd;"
    "margin-top:28px}h3{font-size:14px;margin:16px 0 4px}table{border-collapse:collapse;"
    "font-size:13px;margin:6px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
    "td:first-child,th:first-child{text-align:left}table.kv th{background:#f4f4f4}"
    ".note{color:#666;font-style:italic}.small{color:#666;font-size:12px}"
    "svg text.tick{font-size:10px;fill:#555}svg text.axis,svg text.label{font-size:12px;"
    "fill:#333}.roc{display:flex;align-items:center;gap:16px}.auc{font-size:15px}";

}  // namespace

std::string run_report_html(const nlohmann::json& record,
                            const std::vector<std::pair<idx_t, double>>& train_losses) {
  const nlohmann::json& job = field(record, "job");
  std::string html = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>shardflow run: "
      "{}</title>\n<style>{}</style></head><body>\n",
      html_escape(job.is_string() ? job.get<std::string>() : "?"), kStyle);
  html += summary_section(record);
  html += training_section(record, train_losses);
  html += steps_section(record);
  html += inputs_section(record);
  html += evaluation_section(record);
  return html + "</body></html>\n";
}

void write_run_report(const mpi::Comm& comm, const nlohmann::json& record,
                      const pipeline::RunSummary& summary) {
  const fs::path path = summary.workdir / "report.html";
  comm.agree([&] {
    if (!comm.is_root()) return;
    try {
      write_file_atomically(path, run_report_html(record, summary.train_losses));
    } catch (const std::exception& e) {
      throw RuntimeError(
          "cannot write the run report {}: {}; check that the workdir is writable "
          "and has space",
          path.string(), e.what());
    }
  });
}

}  // namespace shardflow::track
