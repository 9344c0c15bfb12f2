// The named pipelines, in one place, each with the reason for its order.
#include <duet/passes/pass.h>

// canonicalize first: its rewrites make equal expressions look equal (x*1
// and x) for cse and leave the rewritten nodes dead; cse before dce: merging
// duplicates leaves the losers unused, and dce then erases them along with
// anything else dead.
// constant-fold after canonicalize (fewer nodes to evaluate) and before cse
// (folded constants compare by value).
DUET_PIPELINE("default", "canonicalize,constant-fold,cse,dce", "rewrites, then folds; cse merges; dce erases");
