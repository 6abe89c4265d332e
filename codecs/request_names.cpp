// The names an app may give a request's fields: each field's `from` path and aliases, and the
// objects those paths pass through, sorted so that a request's keys are looked up, not scanned.
#include "codecs/profile.hpp"

#include <algorithm>

namespace dragoman::codecs {

void message_def::index_request_names() {
  request_names.clear();
  auto known = [&](std::string_view name) {
    return std::any_of(request_names.begin(), request_names.end(),
                       [&](const request_name& n) { return n.name == name; });
  };
  auto add_path = [&](std::string_view dotted, std::size_t field) {
    // Every object on the way ("patient" of "patient.id"), then the leaf.
    for (auto dot = dotted.find('.'); dot != std::string_view::npos;
         dot = dotted.find('.', dot + 1))
      if (!known(dotted.substr(0, dot)))
        request_names.push_back({std::string(dotted.substr(0, dot)), 0, true});
    request_names.push_back({std::string(dotted), static_cast<std::uint32_t>(field), false});
  };
  // Names first, so that an alias never shadows a field's own name.
  for (std::size_t i = 0; i < fields.size(); ++i)
    if (!fields[i].from.empty() && !known(fields[i].from)) add_path(fields[i].from, i);
  for (std::size_t i = 0; i < fields.size(); ++i)
    if (!fields[i].from.empty())
      for (const auto& alias : fields[i].aliases)
        if (!known(alias)) add_path(alias, i);
  std::sort(request_names.begin(), request_names.end(),
            [](const request_name& a, const request_name& b) { return a.name < b.name; });
}

const request_name* message_def::find_request_name(std::string_view name) const noexcept {
  auto it =
      std::lower_bound(request_names.begin(), request_names.end(), name,
                       [](const request_name& n, std::string_view key) { return n.name < key; });
  return it != request_names.end() && it->name == name ? &*it : nullptr;
}

std::string message_def::listed_request_names() const {
  std::string out;
  for (std::size_t i = 0; i < listed_fields && i < fields.size(); ++i) {
    const field_spec& f = fields[i];
    if (f.from.empty() || f.constant) continue;
    if (!out.empty()) out += ", ";
    out += f.from;
  }
  return out;
}

}  // namespace dragoman::codecs
