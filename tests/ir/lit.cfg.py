# lit configuration of the IR tests: every .duet file here is a test whose
# RUN lines drive duet-opt and FileCheck. ctest passes the tool paths.
import os
import lit.formats

config.name = "duet-ir"
config.test_format = lit.formats.ShTest(execute_external=True)
config.suffixes = [".duet"]
config.excludes = ["inputs"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = lit_config.params.get("exec_root", os.path.join(config.test_source_root, "..", "..", "build", "tests", "ir"))

tools = [lit_config.params.get("duet_tools", ""), lit_config.params.get("llvm_tools", "/usr/lib/llvm-16/bin")]
config.environment["PATH"] = os.pathsep.join([t for t in tools if t] + [config.environment.get("PATH", os.environ.get("PATH", ""))])
