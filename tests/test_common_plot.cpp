// lessons/common/plot: the loss chart (SVG) and the CSV training log.
#include <cmath>
#include <sstream>

#include "lessons/common/plot.hpp"
#include "tests/temp_dir.hpp"
#include "tests/testing.hpp"

using namespace tinydiff;
using test::TempDir;

namespace {

// The points of each <polyline> in the SVG (parsed by hand: std::regex recurses per
// character and overflows the stack on long attributes).
std::vector<std::vector<std::pair<double, double>>> polylines(const std::string& svg) {
  std::vector<std::vector<std::pair<double, double>>> lines;
  const std::string open = "points=\"";
  for (size_t at = svg.find("<polyline"); at != std::string::npos; at = svg.find("<polyline", at)) {
    size_t begin = svg.find(open, at) + open.size(), end = svg.find('"', begin);
    std::istringstream points(svg.substr(begin, end - begin));
    std::vector<std::pair<double, double>> line;
    double x, y;
    char comma;
    while (points >> x >> comma >> y) line.emplace_back(x, y);
    lines.push_back(line);
    at = end;
  }
  return lines;
}

double total_variation(const std::vector<std::pair<double, double>>& points) {
  double tv = 0;
  for (size_t i = 1; i < points.size(); ++i)
    tv += std::fabs(points[i].second - points[i - 1].second);
  return tv;
}

// A noisy decaying loss: 2 exp(-step / 300) + 0.01, times 1 +- 0.3.
void fake_loss(int n, std::vector<double>* steps, std::vector<double>* losses) {
  for (int i = 1; i <= n; ++i) {
    steps->push_back(i);
    losses->push_back((2 * std::exp(-i / 300.0) + 0.01) * (1 + 0.3 * std::sin(i * 12.9898)));
  }
}

}  // namespace

TEST_CASE("save_loss_svg draws the raw loss and a smoother moving average inside the axes") {
  TempDir dir;
  std::vector<double> steps, losses;
  fake_loss(1000, &steps, &losses);
  losses[500] = NAN;  // left out
  save_loss_svg(dir.file("loss.svg"), steps, losses, "lesson01 <sprites> & more");
  std::string svg = test::read_bytes(dir.file("loss.svg"));
  CHECK(svg.find("<svg xmlns=\"http://www.w3.org/2000/svg\"") == 0);
  CHECK(svg.find("lesson01 &lt;sprites&gt; &amp; more") != std::string::npos);
  CHECK(svg.find(">step</text>") != std::string::npos);
  CHECK(svg.find(">loss</text>") != std::string::npos);
  CHECK(svg.find(">400</text>") != std::string::npos);  // an x tick
  CHECK(svg.find(">1</text>") != std::string::npos);    // a y tick
  CHECK(svg.find("nan") == std::string::npos);
  auto lines = polylines(svg);
  REQUIRE(lines.size() == 2);
  for (const auto& line : lines) {
    CHECK(line.size() > 100);
    for (auto [x, y] : line) {
      REQUIRE(x >= 75 - 1e-6);  // the plot area: x in [75, 780], y in [40, 395]
      REQUIRE(x <= 780 + 1e-6);
      REQUIRE(y >= 40);
      REQUIRE(y <= 395);
    }
  }
  CHECK(total_variation(lines[1]) < 0.2 * total_variation(lines[0]));  // the average is smooth
  CHECK(dir.listing() == "loss.svg ");
}

TEST_CASE("save_loss_svg: log scale, many points, no data, and errors") {
  TempDir dir;
  std::vector<double> steps, losses;
  fake_loss(100000, &steps, &losses);
  losses[10] = -1;  // not plottable on a log scale
  save_loss_svg(dir.file("log.svg"), steps, losses, "log", true);
  std::string svg = test::read_bytes(dir.file("log.svg"));
  CHECK(svg.find("loss (log scale)") != std::string::npos);
  CHECK(svg.find(">0.1</text>") != std::string::npos);  // powers of ten as ticks
  CHECK(svg.find(">0.01</text>") != std::string::npos);
  CHECK(svg.size() < 200000);  // 100000 points are thinned to about two per pixel column
  for (const auto& line : polylines(svg))
    for (auto [x, y] : line) REQUIRE((y >= 40 && y <= 395));

  save_loss_svg(dir.file("empty.svg"), {}, {}, "nothing yet");
  CHECK(test::read_bytes(dir.file("empty.svg")).find("no data yet") != std::string::npos);
  save_loss_svg(dir.file("one.svg"), {5}, {0.5}, "one point");
  CHECK(polylines(test::read_bytes(dir.file("one.svg"))).size() == 2);

  CHECK_THROWS_WITH_AS(save_loss_svg(dir.file("bad.svg"), {1, 2}, {0.5}, "t"),
                       doctest::Contains("2 steps but 1 losses"), Error);
  CHECK_THROWS_WITH_AS(save_loss_svg(dir.file("no/dir/x.svg"), {1}, {1}, "t"),
                       doctest::Contains("cannot write"), Error);
  CHECK(dir.listing() == "empty.svg log.svg one.svg ");
}

TEST_CASE("CsvLog writes a header and rows that read_csv reads back") {
  TempDir dir;
  std::string path = dir.file("loss.csv");
  {
    CsvLog log = CsvLog::create(path, {"step", "loss", "lr"});
    log.append({1, 0.5, 1e-3});
    log.append({2, 0.25, 1e-3});
    CHECK(test::read_bytes(path) ==
          "step,loss,lr\n1,0.5,0.001\n2,0.25,0.001\n");  // flushed at once
    CHECK_THROWS_WITH_AS(log.append({3, 0.1}),
                         doctest::Contains("a row of 2 values for the 3 columns step,loss,lr"),
                         Error);
  }
  CsvTable table = read_csv(path);
  CHECK(table.columns == std::vector<std::string>{"step", "loss", "lr"});
  CHECK(table.column("loss") == std::vector<double>{0.5, 0.25});
  CHECK_THROWS_WITH_AS(table.column("acc"),
                       doctest::Contains("no column 'acc' (the columns are step,loss,lr)"), Error);
  CsvLog::create(path, {"step", "loss", "lr"});  // a new run starts over
  CHECK(read_csv(path).rows.empty());
}

TEST_CASE("CsvLog::resume drops rows after the checkpoint and a cut-off last line") {
  TempDir dir;
  std::string path = dir.file("loss.csv");
  test::write_bytes(path, "step,loss\n10,0.9\n20,0.8\n30,0.7\n40,0.6\n50,0.");
  {
    CsvLog log = CsvLog::resume(path, {"step", "loss"}, 20);
    log.append({30, 0.65});
  }
  CHECK(test::read_bytes(path) == "step,loss\n10,0.9\n20,0.8\n30,0.65\n");
  CHECK(dir.listing() == "loss.csv ");
  CsvLog::resume(dir.file("new.csv"), {"step", "loss"}, 0).append({1, 2});
  CHECK(test::read_bytes(dir.file("new.csv")) == "step,loss\n1,2\n");

  CHECK_THROWS_WITH_AS(
      CsvLog::resume(path, {"step", "acc"}, 20),
      doctest::Contains("has the columns 'step,loss' but this run logs 'step,acc'"), Error);
  test::write_bytes(path, "step,loss\nten,1\n");
  CHECK_THROWS_WITH_AS(CsvLog::resume(path, {"step", "loss"}, 20),
                       doctest::Contains("line 2 does not start with a number"), Error);
}

TEST_CASE("read_csv errors name the file, the line and the field") {
  TempDir dir;
  std::string path = dir.file("x.csv");
  test::write_bytes(path, "");
  CHECK_THROWS_WITH_AS(read_csv(path), doctest::Contains("is empty (no header line)"), Error);
  test::write_bytes(path, "a,b\n1,2\n3\n");
  CHECK_THROWS_WITH_AS(read_csv(path),
                       doctest::Contains("line 3 has 1 fields but the header has 2"), Error);
  test::write_bytes(path, "a,b\n1,x\n");
  CHECK_THROWS_WITH_AS(read_csv(path), doctest::Contains("line 2, column b: 'x' is not a number"),
                       Error);
  CHECK_THROWS_WITH_AS(read_csv(dir.file("none.csv")), doctest::Contains("cannot open"), Error);
}
