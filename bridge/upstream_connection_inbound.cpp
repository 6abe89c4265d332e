// One upstream connection, the messages its host starts: each is delivered to the app (line
// subscribers, then --deliver: inbound_dispatch.hpp) and answered from the app's JSON on top of the
// profile's reply values, or with the profile's negative reply when the app fails or there is no
// app; duplicates get the first answer again.
#include "bridge/inbound_dispatch.hpp"
#include "bridge/journaled_inbound.hpp"
#include "bridge/log.hpp"
#include "bridge/upstream_connection.hpp"
#include "codecs/pipeline.hpp"
#include "codecs/unrecognised.hpp"

#include <boost/asio/post.hpp>

namespace dragoman::bridge {

namespace asio = boost::asio;
namespace json = boost::json;
using steady = std::chrono::steady_clock;

namespace {

// The longest app text put into a negative reply.
constexpr std::size_t max_failure_text = 200;

std::uint64_t fnv1a(std::string_view a, std::string_view b) {
  std::uint64_t h = 1469598103934665603ull;
  for (std::string_view s : {a, std::string_view("\x1f", 1), b})
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ull;
    }
  return h;
}

std::string hex64(std::uint64_t v) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4) out[static_cast<std::size_t>(i)] = digits[v & 0xF];
  return out;
}

// The value at a dotted path of obj ("error.code"), or null.
const json::value* at_path(const json::object& obj, std::string_view path) {
  const json::object* cur = &obj;
  for (;;) {
    const std::size_t dot = path.find('.');
    const json::value* v = cur->if_contains(path.substr(0, dot));
    if (!v || dot == std::string_view::npos) return v;
    if (!v->is_object()) return nullptr;
    cur = &v->get_object();
    path.remove_prefix(dot + 1);
  }
}

// The app's text for a negative reply: its problem's detail/title/message/error when it answered
// JSON, else its body's first line; the failure's own sentence when it said nothing.
std::string failure_text(const deliver_response& app) {
  std::string text;
  if (app.what == deliver_response::outcome::refused && !app.body.empty()) {
    boost::system::error_code ec;
    json::value v = json::parse(app.body, ec);
    if (!ec && v.is_object()) {
      for (std::string_view key : {"detail", "message", "error", "title"})
        if (const json::value* t = v.get_object().if_contains(key); t && t->is_string()) {
          text = std::string(t->get_string());
          break;
        }
    } else {
      text = app.body.substr(0, app.body.find_first_of("\r\n"));
    }
  }
  if (text.empty()) text = app.why;
  if (text.size() > max_failure_text) text.resize(max_failure_text);
  return text;
}

}  // namespace

struct upstream_connection::inbound_delivery {
  const codecs::operation* op = nullptr;
  std::shared_ptr<profile_bundle> bundle;
  codecs::record request;
  std::string message_id;
  std::string request_id;
  std::string dedupe_key;  // empty: the operation has none
  steady::time_point started;
};

bool upstream_connection::inbound_full() const noexcept {
  return inbound_in_flight_ >= std::max<std::size_t>(options().deliver.max_in_flight, 1);
}

void upstream_connection::inbound_message(const codecs::operation& op, codecs::byte_view payload) {
  ++counters().inbound_received;
  auto d = std::make_shared<inbound_delivery>();
  d->op = &op;
  d->bundle = bundle_;
  d->request = reply_;
  d->started = steady::now();
  d->request_id = "in-" + std::to_string(gauge_.id()) + "-" + std::to_string(++inbound_seq_);
  const auto& spec = op.inbound;
  if (!spec.dedupe_key.empty()) {
    std::string key;
    for (std::size_t i : spec.dedupe_key) {
      if (!key.empty()) key += '\x1e';
      key += reply_.get(i);
    }
    d->dedupe_key = op.name + '\x1f' + key;
    d->message_id = hex64(fnv1a(op.name, key));
  } else {
    d->message_id = hex64(fnv1a(
        op.name, std::string_view(reinterpret_cast<const char*>(payload.data()), payload.size())));
  }
  if (log::enabled(log::level::debug))
    log::debug("inbound_received", {{"endpoint", ep_.name()},
                                    {"operation", op.name},
                                    {"message_id", d->message_id},
                                    {"fields", codecs::map_reply(op.request, reply_, true, true)}});
  if (!d->dedupe_key.empty()) {
    codecs::byte_buffer frame;
    auto waiter = [self = shared_from_this(), epoch = epoch_](const codecs::byte_buffer& f) {
      asio::post(self->ctx_, [self, epoch, f] { self->send_frame(epoch, f); });
    };
    auto v = shared_->dedupe.begin(d->dedupe_key, d->started, spec.dedupe_window, frame, waiter);
    if (v != inbound_dedupe::verdict::fresh) {
      ++counters().inbound_duplicates;
      log::info(
          "inbound_duplicate",
          {{"endpoint", ep_.name()},
           {"operation", op.name},
           {"message_id", d->message_id},
           {"first", v == inbound_dedupe::verdict::pending ? "being delivered" : "answered"}});
      if (v == inbound_dedupe::verdict::answered) send_frame(epoch_, frame);
      return;
    }
  }
  const auto& target = options().deliver;
  if (target.host.empty() && !options().subscriptions) {
    deliver_response none;
    none.what = deliver_response::outcome::unreachable;
    none.no_app = true;
    none.why = "no app to deliver to (dragoman serve without --deliver)";
    inbound_finished(epoch_, d, none);
    return;
  }
  ++inbound_in_flight_;
  counters().inbound_in_flight.fetch_add(1, std::memory_order_relaxed);
  deliver_request r;
  r.op = op.name;
  r.body = json::serialize(codecs::map_reply(op.request, reply_, true, false));
  r.request_id = d->request_id;
  r.message_id = d->message_id;
  if (const auto& slot = options().inbound_journal) {
    if (auto store = slot->store.load()) {
      // Stored first: the host's answer (the profile's positive reply) says it is durable; the
      // app gets it from the journal (journaled_inbound.hpp). Not stored: the negative reply.
      store->keep(std::move(r), [self = shared_from_this(), epoch = epoch_, d](std::string why) {
        asio::post(self->ctx_, [self, epoch, d, why = std::move(why)] {
          --self->inbound_in_flight_;
          self->counters().inbound_in_flight.fetch_sub(1, std::memory_order_relaxed);
          deliver_response stored;
          stored.what = why.empty() ? deliver_response::outcome::accepted
                                    : deliver_response::outcome::unreachable;
          stored.why = why.empty() ? std::string("stored in the journal") : why;
          stored.no_app = true;  // no app latency: the journal's
          self->inbound_finished(epoch, d, stored);
          self->resume_reading();
        });
      });
      return;
    }
  }
  if (!deliverer_) deliverer_ = make_inbound_dispatcher(ctx_, target, options().subscriptions);
  deliverer_->post(std::move(r),
                   [self = shared_from_this(), epoch = epoch_, d](deliver_response app) {
                     --self->inbound_in_flight_;
                     self->counters().inbound_in_flight.fetch_sub(1, std::memory_order_relaxed);
                     self->inbound_finished(epoch, d, app);
                     self->resume_reading();
                   });
}

// The app answered (or could not): the reply is built, remembered for duplicates and written.
void upstream_connection::inbound_finished(std::uint64_t epoch,
                                           const std::shared_ptr<inbound_delivery>& d,
                                           const deliver_response& app) {
  const codecs::operation& op = *d->op;
  const auto& spec = op.inbound;
  const bool accepted = app.what == deliver_response::outcome::accepted;
  const auto now = steady::now();
  const auto latency = std::chrono::duration_cast<std::chrono::microseconds>(now - d->started);
  if (!app.no_app) counters().inbound_delivery.observe(latency);
  ++(accepted ? counters().inbound_delivered : counters().inbound_failed);

  codecs::record answer;
  codecs::build_reply(op, d->request, answer);
  codecs::apply_reply_values(spec.reply, d->request, {}, answer);
  bool answered = spec.answer;
  std::string why;
  if (!answered) {
    // Nothing is written back (the protocol acknowledges no such message).
  } else if (accepted) {
    boost::system::error_code ec;
    json::value body = app.body.empty() ? json::value(json::object()) : json::parse(app.body, ec);
    if (!ec && body.is_object()) {
      for (std::size_t i = 0; i < op.reply.fields.size(); ++i) {
        const json::value* v = at_path(body.get_object(), op.reply.fields[i].reply_name());
        if (!v || v->is_null() || v->is_object() || v->is_array()) continue;
        if (v->is_string())
          answer.set(i, v->get_string());
        else
          answer.set(i, json::serialize(*v));
      }
    } else {
      why = "the app's 2xx body is not a JSON object: the profile's reply was sent";
    }
  } else if (spec.negative) {
    codecs::apply_reply_values(spec.negative_reply, d->request, failure_text(app), answer);
  } else {
    answered = false;
  }
  codecs::byte_buffer frame, scratch;
  if (answered) {
    auto encoded = codecs::encode_message(*d->bundle->profile, op.reply, answer, scratch, frame);
    if (!encoded) {
      frame.clear();
      why = "the reply cannot be encoded: " + encoded.error().to_string();
    }
  }
  if (!d->dedupe_key.empty()) shared_->dedupe.finish(d->dedupe_key, frame, accepted, now);
  json::object line{{"endpoint", ep_.name()},
                    {"operation", op.name},
                    {"message_id", d->message_id},
                    {"request_id", d->request_id},
                    {"delivered", accepted},
                    {"answered", !frame.empty()},
                    {"latency_ms", static_cast<double>(latency.count()) / 1000.0}};
  if (app.status) line["status"] = app.status;
  if (!accepted) line["reason"] = app.why;
  if (!why.empty()) line["problem"] = why;
  if (accepted && why.empty())
    log::info("inbound", line);
  else
    log::warn("inbound", line);
  if (!frame.empty()) send_frame(epoch, frame);
}

// Writes an answer frame on the connection it belongs to; one whose connection is gone is lost
// (the host sends the message again on its next connection).
void upstream_connection::send_frame(std::uint64_t epoch, const codecs::byte_buffer& frame) {
  if (frame.empty()) return;
  if (epoch != epoch_ || !writable()) {
    log::warn("inbound_answer_lost",
              {{"endpoint", ep_.name()}, {"why", "its connection closed before the answer"}});
    return;
  }
  codecs::append(out_pending_, frame);
  start_write();
}

// A delivery ended: reading goes on when it had paused on this connection and there is room.
void upstream_connection::resume_reading() {
  if (!read_paused_ || inbound_full()) return;
  read_paused_ = false;
  if (paused_epoch_ != epoch_ || state_ == state::stopped) return;  // a new socket reads itself
  if (read_frames()) do_read();
}

}  // namespace dragoman::bridge
