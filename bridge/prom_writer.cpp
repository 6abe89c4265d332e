// The Prometheus text exposition format: HELP/TYPE lines, sample lines, label escaping, numbers.
#include "bridge/prom_writer.hpp"

#include <charconv>
#include <cmath>
#include <iterator>

namespace dragoman::bridge {

void prom_writer::escape_label_value(std::string& out, std::string_view v) {
  for (char c : v) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out.push_back(c);
    }
  }
}

void prom_writer::append_number(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buf[64];
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    auto r = std::to_chars(buf, buf + sizeof buf, static_cast<long long>(v));
    out.append(buf, r.ptr);
    return;
  }
  // Plain decimals ("0.0005", not "5e-04") where that stays short; exponents otherwise.
  double a = std::fabs(v);
  auto r = a >= 1e-6 && a < 1e15 ? std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed)
                                 : std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void prom_writer::family(std::string_view name, std::string_view type, std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_.push_back(' ');
  for (char c : help) {  // HELP escapes backslash and newline
    if (c == '\\')
      out_ += "\\\\";
    else if (c == '\n')
      out_ += "\\n";
    else
      out_.push_back(c);
  }
  out_ += "\n# TYPE ";
  out_ += name;
  out_.push_back(' ');
  out_ += type;
  out_.push_back('\n');
}

namespace {

// One sample line: name{k="v",...} value — for any range of label pairs.
template <class Labels>
void write_sample(std::string& out, std::string_view name, const Labels& labels, double value) {
  out += name;
  if (std::begin(labels) != std::end(labels)) {
    out.push_back('{');
    bool first = true;
    for (const auto& [k, v] : labels) {
      if (!first) out.push_back(',');
      first = false;
      out += k;
      out += "=\"";
      prom_writer::escape_label_value(out, v);
      out.push_back('"');
    }
    out.push_back('}');
  }
  out.push_back(' ');
  prom_writer::append_number(out, value);
  out.push_back('\n');
}

}  // namespace

void prom_writer::sample(
    std::string_view name,
    std::initializer_list<std::pair<std::string_view, std::string_view>> labels, double value) {
  write_sample(out_, name, labels, value);
}

void prom_writer::sample(std::string_view name,
                         const std::vector<std::pair<std::string, std::string>>& labels,
                         double value) {
  write_sample(out_, name, labels, value);
}

}  // namespace dragoman::bridge
