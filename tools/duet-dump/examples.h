// duet-dump's built-in examples: small traced functions a user can dump
// without writing one (mlp-train is W5's step, cnn W7's forward, rnn W6's
// cell over a few steps, collatz a while_loop with a cond).
#pragma once

#include <string>
#include <vector>

#include <duet/duet.h>

namespace duet::dump {

struct Example {
  std::string name;
  std::string what;
};
const std::vector<Example>& examples();

// The example traced at its usual shapes, or an empty ConcreteFunction if
// `name` is not one.
ConcreteFunction trace_example(const std::string& name);

}  // namespace duet::dump
