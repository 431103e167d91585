#pragma once

// The bus's I/O threads behind switchboard/event_loop.hpp, as Asio io_contexts, for the
// HTTP server. Only translation units that use Asio anyway include this.

#include <boost/asio/io_context.hpp>

#include <cstddef>

#include "switchboard/event_loop.hpp"

namespace switchboard::io {

/// How many loops run: one per core.
std::size_t loopCount();
/// Loop `index` (< loopCount()); the loops start on first use and run until the process ends.
EventLoop& loop(std::size_t index);
boost::asio::io_context& context(EventLoop& loop);

}  // namespace switchboard::io
