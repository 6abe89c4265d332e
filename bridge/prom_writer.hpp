// The Prometheus text exposition format (version 0.0.4): families, samples, escaping, numbers.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dragoman::bridge {

// Writes the Prometheus text exposition format (version 0.0.4): one HELP and TYPE per family,
// then its samples. Label values are escaped (backslash, double quote, newline).
class prom_writer {
 public:
  explicit prom_writer(std::string& out) : out_(out) {}
  // type: "counter", "gauge" or "histogram".
  void family(std::string_view name, std::string_view type, std::string_view help);
  // labels: {"op", "balance"}, ...; written in the order given.
  void sample(std::string_view name,
              std::initializer_list<std::pair<std::string_view, std::string_view>> labels,
              double value);
  void sample(std::string_view name, const std::vector<std::pair<std::string, std::string>>& labels,
              double value);

  static void escape_label_value(std::string& out, std::string_view v);
  static void append_number(std::string& out, double v);

 private:
  std::string& out_;
};

}  // namespace dragoman::bridge
