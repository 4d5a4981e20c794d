// save_loss_svg: an SVG line chart of a training loss.
#include "lessons/common/plot.hpp"

#include <algorithm>
#include <cmath>

#include "lessons/common/file_io.hpp"
#include "tensor/error.hpp"

namespace tinydiff {

namespace {

// The chart's frame in SVG pixels.
constexpr double kWidth = 800, kHeight = 450, kLeft = 75, kRight = 20, kTop = 40, kBottom = 55;

std::string num(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.6g", v);
  return buffer;
}

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '&')
      out += "&amp;";
    else if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '"')
      out += "&quot;";
    else
      out += c;
  }
  return out;
}

// About `count` round tick values (1, 2 or 5 times a power of ten apart) covering [lo, hi].
std::vector<double> nice_ticks(double lo, double hi, int count) {
  double raw = (hi - lo) / count, power = std::pow(10.0, std::floor(std::log10(raw)));
  double step = power * (raw / power < 1.5   ? 1
                         : raw / power < 3.5 ? 2
                         : raw / power < 7.5 ? 5
                                             : 10);
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step) * step; t <= hi + step * 1e-9; t += step)
    ticks.push_back(std::fabs(t) < step * 1e-9 ? 0.0 : t);
  return ticks;
}

// Maps data coordinates to SVG pixels; y is log10(value) on a log scale.
struct Axes {
  double x0, x1, y0, y1;
  bool log_y;
  double y_of(double v) const { return log_y ? std::log10(v) : v; }
  double px(double x) const { return kLeft + (x - x0) / (x1 - x0) * (kWidth - kLeft - kRight); }
  double py(double v) const {
    return kHeight - kBottom - (y_of(v) - y0) / (y1 - y0) * (kHeight - kTop - kBottom);
  }
};

// The plottable points: finite, and positive on a log scale.
void keep_valid(const std::vector<double>& steps, const std::vector<double>& losses, bool log_y,
                std::vector<double>* xs, std::vector<double>* ys) {
  for (size_t i = 0; i < steps.size(); ++i)
    if (std::isfinite(steps[i]) && std::isfinite(losses[i]) && (!log_y || losses[i] > 0))
      xs->push_back(steps[i]), ys->push_back(losses[i]);
}

// Trailing moving average over `window` points: avg[i] = mean(ys[i-window+1 .. i]).
std::vector<double> moving_average(const std::vector<double>& ys, size_t window) {
  std::vector<double> avg(ys.size());
  double sum = 0;
  for (size_t i = 0; i < ys.size(); ++i) {
    sum += ys[i];
    if (i >= window) sum -= ys[i - window];
    avg[i] = sum / double(std::min(i + 1, window));
  }
  return avg;
}

// A polyline through the points; with many points, only the lowest and highest point of each
// 1-pixel column is kept, which draws the same picture with far fewer points.
std::string polyline(const Axes& a, const std::vector<double>& xs, const std::vector<double>& ys,
                     const char* style) {
  std::string points;
  auto add = [&](size_t i) { points += num(a.px(xs[i])) + "," + num(a.py(ys[i])) + " "; };
  for (size_t i = 0; i < xs.size();) {
    size_t lo = i, hi = i, j = i;
    for (int column = int(a.px(xs[i])); j < xs.size() && int(a.px(xs[j])) == column; ++j) {
      if (ys[j] < ys[lo]) lo = j;
      if (ys[j] > ys[hi]) hi = j;
    }
    add(std::min(lo, hi));
    if (lo != hi) add(std::max(lo, hi));
    i = j;
  }
  return "<polyline fill=\"none\" " + std::string(style) + " points=\"" + points + "\"/>\n";
}

std::string text(double x, double y, const std::string& s, const std::string& extra = "") {
  return "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\" " + extra + ">" + xml_escape(s) +
         "</text>\n";
}

// Tick marks, grid lines and labels on both axes.
std::string axes_svg(const Axes& a) {
  std::string svg;
  double bottom = kHeight - kBottom, right = kWidth - kRight;
  for (double t : nice_ticks(a.x0, a.x1, 6)) {
    svg += "<line x1=\"" + num(a.px(t)) + "\" y1=\"" + num(kTop) + "\" x2=\"" + num(a.px(t)) +
           "\" y2=\"" + num(bottom + 5) + "\" stroke=\"#ddd\"/>\n";
    svg += text(a.px(t), bottom + 20, num(t), "text-anchor=\"middle\"");
  }
  std::vector<double> y_ticks = nice_ticks(a.y0, a.y1, 5);
  if (a.log_y && a.y1 - a.y0 >= 1) {  // whole powers of ten
    y_ticks.clear();
    for (double e = std::ceil(a.y0); e <= a.y1; ++e) y_ticks.push_back(e);
  }
  for (double t : y_ticks) {
    double value = a.log_y ? std::pow(10.0, t) : t, y = a.py(value);
    svg += "<line x1=\"" + num(kLeft - 5) + "\" y1=\"" + num(y) + "\" x2=\"" + num(right) +
           "\" y2=\"" + num(y) + "\" stroke=\"#ddd\"/>\n";
    svg += text(kLeft - 8, y + 4, num(value), "text-anchor=\"end\"");
  }
  svg += "<rect x=\"" + num(kLeft) + "\" y=\"" + num(kTop) + "\" width=\"" + num(right - kLeft) +
         "\" height=\"" + num(bottom - kTop) + "\" fill=\"none\" stroke=\"#333\"/>\n";
  svg += text((kLeft + right) / 2, kHeight - 12, "step", "text-anchor=\"middle\"");
  svg +=
      text(18, (kTop + bottom) / 2, a.log_y ? "loss (log scale)" : "loss",
           "text-anchor=\"middle\" transform=\"rotate(-90 18 " + num((kTop + bottom) / 2) + ")\"");
  return svg;
}

// The data range, widened a little (and made non-empty) so that lines do not touch the frame.
Axes fit_axes(const std::vector<double>& xs, const std::vector<double>& ys, bool log_y) {
  Axes a{0, 1, 0, 1, log_y};
  if (xs.empty()) return a;
  a.x0 = *std::min_element(xs.begin(), xs.end()), a.x1 = *std::max_element(xs.begin(), xs.end());
  if (a.x1 == a.x0) a.x0 -= 1, a.x1 += 1;
  auto [lo, hi] = std::minmax_element(ys.begin(), ys.end());
  a.y0 = a.y_of(*lo), a.y1 = a.y_of(*hi);
  double pad = a.y1 > a.y0 ? 0.05 * (a.y1 - a.y0) : 0.5;
  a.y0 -= pad, a.y1 += pad;
  return a;
}

}  // namespace

void save_loss_svg(const std::string& path, const std::vector<double>& steps,
                   const std::vector<double>& losses, const std::string& title, bool log_y) {
  TD_CHECK(steps.size() == losses.size(), "loss plot: ", path, ": ", steps.size(), " steps but ",
           losses.size(), " losses");
  std::vector<double> xs, ys;
  keep_valid(steps, losses, log_y, &xs, &ys);
  Axes a = fit_axes(xs, ys, log_y);
  size_t window = std::max<size_t>(1, xs.size() / 25);
  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(kWidth) +
                    "\" height=\"" + num(kHeight) +
                    "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  svg += text(kWidth / 2, 24, title, "text-anchor=\"middle\" font-size=\"15\"");
  svg += axes_svg(a);
  if (xs.empty()) {
    svg += text(kWidth / 2, kHeight / 2, "no data yet", "text-anchor=\"middle\" fill=\"#888\"");
  } else {
    svg += polyline(a, xs, ys, "stroke=\"#9ecae1\" stroke-width=\"1\"");
    svg += polyline(a, xs, moving_average(ys, window), "stroke=\"#08519c\" stroke-width=\"2.5\"");
    svg += text(kWidth - kRight - 8, kTop + 16,
                "thin: loss, thick: mean of the last " + std::to_string(window) + " values",
                "text-anchor=\"end\" fill=\"#08519c\"");
  }
  svg += "</svg>\n";
  write_file_atomic(path, svg, "loss plot");
}

}  // namespace tinydiff
