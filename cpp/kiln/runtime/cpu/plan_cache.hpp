// A bounded LRU cache of execution plans keyed by input-shape signature, where each plan is built
// once: the first caller of a new signature builds it (outside the lock, so requests running
// other plans carry on), and concurrent callers of the same signature wait for that build. A
// build that throws hands its error to every waiter and leaves no entry behind. Plans are shared
// pointers: one evicted while a request still runs it stays alive until that request is done.
#pragma once
#include <atomic>
#include <cstdint>
#include <future>
#include <list>
#include <memory>
#include <mutex>
#include <vector>

#include "kiln/core/shape.hpp"

namespace kiln::cpu {

class Plan;

class PlanCache {
public:
    using PlanPtr = std::shared_ptr<const Plan>;

    explicit PlanCache(size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

    // The plan for `key`, built by `build()` (returning PlanPtr) if no caller has built it yet.
    template <class Build>
    PlanPtr get(const std::vector<Shape>& key, Build&& build) {
        std::promise<PlanPtr> promise;
        std::shared_future<PlanPtr> pending;
        uint64_t id = 0;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            for (auto it = entries_.begin(); it != entries_.end(); ++it)
                if (it->key == key) {
                    entries_.splice(entries_.begin(), entries_, it);
                    pending = entries_.front().plan;
                    break;
                }
            if (!pending.valid()) {
                id = ++next_id_;
                entries_.push_front(Entry{key, promise.get_future().share(), id});
                while (entries_.size() > capacity_) entries_.pop_back();
            }
        }
        // Another caller builds (or built) it: wait outside the lock; its error is rethrown here.
        if (pending.valid()) return pending.get();
        try {
            PlanPtr plan = build();
            built_.fetch_add(1, std::memory_order_relaxed);
            promise.set_value(plan);
            return plan;
        } catch (...) {
            {
                std::lock_guard<std::mutex> lock(mutex_);
                entries_.remove_if([&](const Entry& e) { return e.id == id; });
            }
            promise.set_exception(std::current_exception());
            throw;
        }
    }

    size_t size() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return entries_.size();
    }
    // Plans built so far (each signature once, unless evicted and asked for again).
    size_t built() const { return built_.load(std::memory_order_relaxed); }

private:
    struct Entry {
        std::vector<Shape> key;
        std::shared_future<PlanPtr> plan;
        uint64_t id;
    };
    size_t capacity_;
    mutable std::mutex mutex_;
    std::list<Entry> entries_;  // most recently used first
    uint64_t next_id_ = 0;
    std::atomic<size_t> built_{0};
};

}  // namespace kiln::cpu
