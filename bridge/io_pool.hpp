// The threading model's unit: N io_contexts, each run by one thread (share-nothing front doors).
#pragma once

#include "bridge/log.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <cstddef>
#include <memory>
#include <thread>
#include <vector>

namespace dragoman::bridge {

class io_pool {
 public:
  explicit io_pool(std::size_t threads) {
    if (threads == 0) threads = 1;
    for (std::size_t i = 0; i < threads; ++i) {
      contexts_.push_back(std::make_unique<boost::asio::io_context>(1));
      guards_.emplace_back(contexts_.back()->get_executor());
    }
  }
  io_pool(const io_pool&) = delete;
  io_pool& operator=(const io_pool&) = delete;
  ~io_pool() {
    stop();
    join();
  }

  std::size_t size() const noexcept { return contexts_.size(); }
  boost::asio::io_context& at(std::size_t i) { return *contexts_[i % contexts_.size()]; }
  // Round robin, for spreading accepted connections and upstream connections.
  boost::asio::io_context& next() { return at(next_.fetch_add(1, std::memory_order_relaxed)); }

  // Runs contexts 1..N-1 on new threads and context 0 on the calling thread until stopped.
  void run() {
    for (std::size_t i = 1; i < contexts_.size(); ++i)
      threads_.emplace_back([ctx = contexts_[i].get()] { run_one(*ctx); });
    run_one(*contexts_[0]);
  }
  // Runs every context on its own new thread (for tests and embedded use).
  void start() {
    for (auto& c : contexts_) threads_.emplace_back([ctx = c.get()] { run_one(*ctx); });
  }
  // Lets the contexts return once their work is done.
  void release() { guards_.clear(); }
  void stop() {
    for (auto& c : contexts_) c->stop();
  }
  void join() {
    for (auto& t : threads_)
      if (t.joinable()) t.join();
    threads_.clear();
  }

 private:
  // The thread's per-call log lines leave once per turn of its loop (log::write_line).
  static void run_one(boost::asio::io_context& ctx) {
    log::bind_thread(&ctx);
    ctx.run();
    log::bind_thread(nullptr);
  }

  std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
  std::vector<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guards_;
  std::vector<std::thread> threads_;
  std::atomic<std::size_t> next_{0};
};

}  // namespace dragoman::bridge
