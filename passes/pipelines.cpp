// The named pipelines, in one place, each with the reason for its order.
#include <duet/passes/pass.h>

// cse before dce: merging duplicates leaves the losers unused, and dce then
// erases them along with anything else dead.
DUET_PIPELINE("default", "cse,dce", "cse exposes dead duplicates that dce erases");
