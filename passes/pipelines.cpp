// The named pipelines, in one place, each with the reason for its order.
#include <duet/passes/pass.h>

// canonicalize first: its rewrites make equal expressions look equal (x*1
// and x) for cse and leave the rewritten nodes dead; cse before dce: merging
// duplicates leaves the losers unused, and dce then erases them along with
// anything else dead.
// constant-fold after canonicalize (fewer nodes to evaluate) and before cse
// (folded constants compare by value).
// fuse-elementwise last: it groups what the clean-up passes left.
DUET_PIPELINE("default", "canonicalize,constant-fold,cse,dce,fuse-elementwise",
              "rewrites, then folds; cse merges; dce erases; fusion groups the rest");
