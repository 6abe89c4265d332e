// Offline tools: encode, decode and check a profile without any network.
#include "cli/commands.hpp"
#include "cli/profile_file.hpp"
#include "codecs/frame_reader.hpp"
#include "codecs/pipeline.hpp"

#include <cstdio>
#include <iostream>
#include <iterator>
#include <sstream>

namespace po = boost::program_options;
namespace json = boost::json;
using namespace dragoman::codecs;

namespace dragoman::cli {

namespace {

std::string read_stdin() {
  std::ostringstream ss;
  ss << std::cin.rdbuf();
  return ss.str();
}

}  // namespace

int run_check(int argc, char** argv) {
  po::options_description desc("check options");
  desc.add_options()("profile,p", po::value<std::string>()->required(), "profile file to check");
  po::variables_map vm;
  if (!parse_options("check", "Validates a profile and prints every mistake as `path: reason`.",
                     desc, argc, argv, vm))
    return 0;
  const std::string path = vm["profile"].as<std::string>();
  compile_output out = load_profile(path);
  if (!out.compiled) {
    for (const auto& e : out.errors) std::fprintf(stderr, "%s\n", e.c_str());
    std::fprintf(stderr, "%zu mistake%s in %s\n", out.errors.size(),
                 out.errors.size() == 1 ? "" : "s", path.c_str());
    return 1;
  }
  std::printf("%s: ok (profile \"%s\", %zu operation%s)\n", path.c_str(),
              out.compiled->name.c_str(), out.compiled->operations.size(),
              out.compiled->operations.size() == 1 ? "" : "s");
  return 0;
}

int run_encode(int argc, char** argv) {
  po::options_description desc("encode options");
  desc.add_options()("profile,p", po::value<std::string>()->required(), "profile file")(
      "op,o", po::value<std::string>()->required(), "operation whose request to encode")(
      "reply", po::bool_switch(), "encode the operation's reply instead of its request")(
      "hex", po::bool_switch(), "write hex instead of raw bytes");
  po::variables_map vm;
  if (!parse_options("encode",
                     "Reads a JSON object of fields on stdin and writes the framed wire bytes.",
                     desc, argc, argv, vm))
    return 0;
  auto p = load_profile_file(vm["profile"].as<std::string>());
  const std::string op_name = vm["op"].as<std::string>();
  const operation* op = p->find_operation(op_name);
  if (!op) throw usage_error("unknown operation '" + op_name + "' in profile " + p->name);

  std::string input = read_stdin();
  boost::system::error_code ec;
  json::value v = json::parse(input, ec);
  if (ec) throw std::runtime_error("stdin is not JSON: " + ec.message());
  if (!v.is_object()) throw std::runtime_error("stdin must be a JSON object of fields");

  const message_def& msg = vm["reply"].as<bool>() ? op->reply : op->request;
  counter_generation_context gen(*p);
  record r;
  json::object fields = v.get_object();
  if (vm["reply"].as<bool>()) {
    // A reply is written from its `to` names (as decode prints them).
    r.reset(msg.fields.size());
    for (std::size_t i = 0; i < msg.fields.size(); ++i) {
      const field_spec& f = msg.fields[i];
      if (f.constant) {
        r.set(i, *f.constant);
        continue;
      }
      const json::value* fv = fields.if_contains(f.reply_name());
      if (!fv) continue;
      if (fv->is_string())
        r.set(i, fv->get_string());
      else
        r.set(i, json::serialize(*fv));
    }
    for (const auto& [idx, value] : msg.match) r.set(idx, value);
  } else if (auto res = map_request(msg, fields, gen, r); !res) {
    throw std::runtime_error(res.error().to_string());
  }
  byte_buffer payload, frame;
  if (auto res = encode_message(*p, msg, r, payload, frame); !res)
    throw std::runtime_error(res.error().to_string());
  if (vm["hex"].as<bool>()) {
    std::printf("%s\n", to_hex(frame).c_str());
  } else {
    std::fwrite(frame.data(), 1, frame.size(), stdout);
  }
  return 0;
}

int run_decode(int argc, char** argv) {
  po::options_description desc("decode options");
  desc.add_options()("profile,p", po::value<std::string>()->required(), "profile file")(
      "op,o", po::value<std::string>(), "only consider this operation's messages")(
      "hex", po::bool_switch(), "read hex instead of raw bytes");
  po::variables_map vm;
  if (!parse_options("decode",
                     "Reads framed wire bytes on stdin and prints each message as a JSON line:\n"
                     "{\"operation\":…,\"message\":\"request\"|\"reply\",\"fields\":{…}}.",
                     desc, argc, argv, vm))
    return 0;
  auto p = load_profile_file(vm["profile"].as<std::string>());
  const operation* only = nullptr;
  if (vm.count("op")) {
    only = p->find_operation(vm["op"].as<std::string>());
    if (!only)
      throw usage_error("unknown operation '" + vm["op"].as<std::string>() + "' in profile " +
                        p->name);
  }
  std::string input = read_stdin();
  byte_buffer bytes;
  if (vm["hex"].as<bool>()) {
    auto h = from_hex(input);
    if (!h) throw std::runtime_error("stdin is not hex (pairs of 0-9a-f, white space allowed)");
    bytes = std::move(*h);
  } else {
    bytes.assign(input.begin(), input.end());
  }
  if (bytes.empty()) throw std::runtime_error("stdin is empty: nothing to decode");
  // The one frame driver: its progress guard turns a decoder that stops advancing into an error.
  frame_reader reader(p->framing->make_decoder(), bytes.size());
  reader.append(bytes);
  record r;
  std::size_t frames = 0;
  for (;;) {
    const auto e = reader.next();
    if (e.kind == frame_reader::event_kind::need_more && reader.buffered() == 0) break;
    switch (e.kind) {
      case frame_reader::event_kind::need_more:
        throw std::runtime_error("input ends inside a frame (" + std::to_string(reader.buffered()) +
                                 " bytes left over)");
      case frame_reader::event_kind::skip:
      case frame_reader::event_kind::fatal:
        throw std::runtime_error("framing: " + e.message);
      case frame_reader::event_kind::frame:
        break;
    }
    auto d = decode_payload(*p, e.payload, r, decode_preference::requests_first, only);
    if (!d) throw std::runtime_error(d.error().to_string());
    json::object out;
    out["operation"] = d->op->name;
    out["message"] = d->is_reply ? "reply" : "request";
    out["fields"] = map_reply(*d->msg, r, true);
    std::printf("%s\n", json::serialize(out).c_str());
    ++frames;
  }
  return frames ? 0 : 1;
}

}  // namespace dragoman::cli
