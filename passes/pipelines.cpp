// The named pipelines, in one place, each with the reason for its order.
#include <duet/passes/pass.h>

// canonicalize first: its rewrites make equal expressions look equal (x*1
// and x) for cse and leave the rewritten nodes dead; cse before dce: merging
// duplicates leaves the losers unused, and dce then erases them along with
// anything else dead.
DUET_PIPELINE("default", "canonicalize,cse,dce", "rewrites expose duplicates for cse; both leave dead nodes for dce");
