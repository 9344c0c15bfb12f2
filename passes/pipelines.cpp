// The named pipelines, in one place, each with the reason for its order.
#include <duet/passes/pass.h>

// canonicalize first: its rewrites make equal expressions look equal (x*1
// and x) for cse and leave the rewritten nodes dead; cse before dce: merging
// duplicates leaves the losers unused, and dce then erases them along with
// anything else dead.
// constant-fold after canonicalize (fewer nodes to evaluate) and before cse
// (folded constants compare by value).
// batch-matmuls after cse (equal slices are one value by then) and before
// dce, which erases the slices it leaves unused.
// fuse-matmul-epilogue before fuse-elementwise: a bias add and an
// activation belong in the matmul's primitive, not in an elementwise group.
// fuse-elementwise then groups what is left. memory-plan last: it annotates
// the final nodes (a later pass would leave its plan stale).
DUET_PIPELINE("default", "canonicalize,constant-fold,cse,batch-matmuls,dce,fuse-matmul-epilogue,fuse-elementwise,memory-plan",
              "rewrites, then folds; cse merges; dce erases; epilogues into matmuls; fusion groups the rest; memory-plan last, over the final nodes");
