// The codec fuzz targets' profiles: the shipped ones and acme-core under the other framing types.
#include "fuzz/fuzz_profiles.hpp"

#include <boost/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace dragoman::fuzz {

namespace {

std::shared_ptr<const codecs::profile> must_compile(const std::string& what,
                                                    const codecs::compile_output& out) {
  if (!out.compiled) {
    std::fprintf(stderr, "fuzz: %s does not compile:\n", what.c_str());
    for (const auto& e : out.errors) std::fprintf(stderr, "  %s\n", e.c_str());
    std::abort();
  }
  return out.compiled;
}

// acme-core with its framing replaced: the layouts stay, the frames change shape.
std::shared_ptr<const codecs::profile> reframed(const codecs::profile& base, const char* framing) {
  boost::json::object source = base.source;
  source["framing"] = boost::json::parse(framing);
  source["name"] = base.name + "+" + std::string(framing);
  return must_compile(source.at("name").as_string().c_str(),
                      codecs::compile_profile(boost::json::serialize(source)));
}

std::vector<std::shared_ptr<const codecs::profile>> load_all() {
  std::vector<std::shared_ptr<const codecs::profile>> all;
  const std::string dir = std::string(DRAGOMAN_SOURCE_DIR) + "/profiles/";
  for (const char* name : {"acme-core", "hl7v2-mllp", "iso8583-ascii", "memcached-text"})
    all.push_back(must_compile(name, codecs::load_profile(dir + name + ".json")));
  const codecs::profile& acme = *all.front();
  all.push_back(reframed(acme, R"({"type":"delimiter","delimiters":[[37],"\r\n"],)"
                               R"("max_frame_length":4096})"));
  all.push_back(reframed(acme, R"({"type":"stx_etx","lrc":true})"));
  all.push_back(reframed(acme, R"({"type":"fixed_size","size":64})"));
  all.push_back(reframed(acme, R"({"type":"length_prefix","length_field_length":4,)"
                               R"("byte_order":"little","length_includes_header":true,)"
                               R"("max_frame_length":4096})"));
  // After the reframed ones, so that the seeds' selectors keep their profiles.
  all.push_back(must_compile("modbus-tcp", codecs::load_profile(dir + "modbus-tcp.json")));
  all.push_back(must_compile("fix44", codecs::load_profile(dir + "fix44.json")));
  return all;
}

}  // namespace

const std::vector<std::shared_ptr<const codecs::profile>>& fuzz_profiles() {
  static const auto all = load_all();
  return all;
}

const codecs::profile& pick_profile(std::uint8_t selector) {
  const auto& all = fuzz_profiles();
  return *all[selector % all.size()];
}

}  // namespace dragoman::fuzz
