#pragma once

/// How a reload hands an HTTP path from a route to its replacement without a moment in
/// which the path is unserved: endpoints are registered on behalf of the route starting on
/// the calling thread, and while routes are being replaced, a new endpoint may take the path
/// and methods of a retiring route's endpoint (it answers from then on; the old one goes when
/// its route stops). Between routes that are not retiring a clash stays an error.

#include <set>
#include <string>

namespace switchboard::http {

/// Names the route whose endpoints the calling thread registers from now on ("" for none).
void setRegistrant(std::string route_id);
const std::string& registrant();

/// The routes a reload is replacing or removing; empty once it is done.
void setRetiring(std::set<std::string> route_ids);
bool retiring(const std::string& route_id);

}  // namespace switchboard::http
