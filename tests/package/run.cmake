# package.find_package: install the current build into a fresh prefix, then
# configure, build and run the outside project of this folder against it with
# find_package(duet) — the way a user consumes duet. Run by ctest as
#   cmake -DDUET_BUILD_DIR=... -DCONSUMER_SOURCE_DIR=... -DWORK_DIR=...
#         -DCONFIG=... -DGENERATOR=... -DMAKE_PROGRAM=... -DCXX_COMPILER=...
#         -DLIBDIR=... -DINCLUDEDIR=... -DDUET_SOURCE_DIR=... [-DSANITIZE=...]
#         -P run.cmake
# Checks, besides the program's own: every <duet/...> header that an installed
# header includes is installed; the headers <duet/duet.h> reaches include only
# standard headers and duet headers; the installed CMake files name no path of
# the source or build tree; find_package picks the package from the prefix
# even with fmt, oneDNN and OpenMP hidden from the consumer; the program runs
# without LD_LIBRARY_PATH.
cmake_minimum_required(VERSION 3.25)

foreach(var DUET_BUILD_DIR CONSUMER_SOURCE_DIR WORK_DIR GENERATOR CXX_COMPILER LIBDIR INCLUDEDIR
            DUET_SOURCE_DIR)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "run.cmake: -D${var}=... is required")
  endif()
endforeach()

function(fail)
  string(JOIN "" msg ${ARGN})
  message(FATAL_ERROR "package.find_package: ${msg}")
endfunction()

function(step name)
  message(STATUS "==> ${name}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    fail("step '${name}' failed (${rc})")
  endif()
endfunction()

set(prefix ${WORK_DIR}/prefix)
set(consumer_src ${WORK_DIR}/src)
set(consumer_build ${WORK_DIR}/build)
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

# 1. Install.
set(config_args)
if(CONFIG)
  set(config_args --config ${CONFIG})
endif()
step("install into ${prefix}" ${CMAKE_COMMAND} --install ${DUET_BUILD_DIR} --prefix ${prefix} ${config_args})

# 2. The installed layout.
foreach(f ${INCLUDEDIR}/duet/duet.h ${INCLUDEDIR}/duet/runtime/tensor.h
          ${LIBDIR}/cmake/duet/duetConfig.cmake ${LIBDIR}/cmake/duet/duetConfigVersion.cmake
          ${LIBDIR}/cmake/duet/duetTargets.cmake)
  if(NOT EXISTS ${prefix}/${f})
    fail("${f} is not installed")
  endif()
endforeach()
file(GLOB libs ${prefix}/${LIBDIR}/libduet_*.so)
if(NOT libs)
  fail("no libduet_*.so under ${prefix}/${LIBDIR}")
endif()

# 3. Installed CMake files must be relocatable: no source- or build-tree path.
file(GLOB cmake_files ${prefix}/${LIBDIR}/cmake/duet/*.cmake)
foreach(f IN LISTS cmake_files)
  file(READ ${f} text)
  foreach(tree ${DUET_SOURCE_DIR} ${DUET_BUILD_DIR})
    string(FIND "${text}" "${tree}" at)
    if(NOT at EQUAL -1)
      fail("${f} names ${tree}: the installed package must be relocatable")
    endif()
  endforeach()
endforeach()

# 4. Headers. Every <duet/...> include of an installed header must be
#    installed, and what <duet/duet.h> reaches must include only standard
#    headers (no extension, no folder) and duet headers: a consumer has no
#    fmt, oneDNN, OpenMP or LLVM headers.
set(include_root ${prefix}/${INCLUDEDIR})
function(header_includes header out)
  file(STRINGS ${header} lines REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"]")
  set(result)
  foreach(line IN LISTS lines)
    string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*[<\"]([^>\"]+)[>\"].*$" "\\1" name "${line}")
    list(APPEND result ${name})
  endforeach()
  set(${out} ${result} PARENT_SCOPE)
endfunction()

file(GLOB_RECURSE installed_headers ${include_root}/duet/*.h)
foreach(h IN LISTS installed_headers)
  header_includes(${h} names)
  foreach(name IN LISTS names)
    if(name MATCHES "^duet/" AND NOT EXISTS ${include_root}/${name})
      file(RELATIVE_PATH rel ${include_root} ${h})
      fail("installed header ${rel} includes <${name}>, which is not installed")
    endif()
  endforeach()
endforeach()

set(queue duet/duet.h)
set(seen)
while(queue)
  list(POP_FRONT queue h)
  if(h IN_LIST seen)
    continue()
  endif()
  list(APPEND seen ${h})
  header_includes(${include_root}/${h} names)
  foreach(name IN LISTS names)
    if(name MATCHES "^duet/")
      list(APPEND queue ${name})
    elseif(NOT name MATCHES "^[a-z_0-9]+$")
      fail("public header ${h} includes <${name}>: public headers may include only "
           "standard headers and duet headers")
    endif()
  endforeach()
endwhile()
list(LENGTH seen n_public)
message(STATUS "${n_public} headers reachable from <duet/duet.h>, all self-contained in the prefix")

# 5. The consumer, copied out of the source tree so nothing finds duet's
#    sources by proximity.
file(COPY ${CONSUMER_SOURCE_DIR}/CMakeLists.txt ${CONSUMER_SOURCE_DIR}/main.cpp
     DESTINATION ${consumer_src})
set(extra)
if(MAKE_PROGRAM)
  list(APPEND extra -DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM})
endif()
if(SANITIZE)
  list(APPEND extra -DCMAKE_CXX_FLAGS=-fsanitize=${SANITIZE} -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=${SANITIZE})
endif()
step("configure the consumer"
  ${CMAKE_COMMAND} -E env --unset=CMAKE_PREFIX_PATH --unset=duet_DIR --unset=duet_ROOT
  ${CMAKE_COMMAND} -S ${consumer_src} -B ${consumer_build} -G ${GENERATOR}
    -Werror=dev --no-warn-unused-cli
    -DCMAKE_CXX_COMPILER=${CXX_COMPILER}
    -DCMAKE_PREFIX_PATH=${prefix}
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
    -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF
    -DCMAKE_DISABLE_FIND_PACKAGE_fmt=ON
    -DCMAKE_DISABLE_FIND_PACKAGE_dnnl=ON
    -DCMAKE_DISABLE_FIND_PACKAGE_OpenMP=ON
    ${extra})

file(STRINGS ${consumer_build}/CMakeCache.txt duet_dir_line REGEX "^duet_DIR:")
string(REGEX REPLACE "^duet_DIR:[A-Z]+=" "" duet_dir "${duet_dir_line}")
file(REAL_PATH "${duet_dir}" duet_dir)
file(REAL_PATH ${prefix}/${LIBDIR}/cmake/duet want_dir)
if(NOT duet_dir STREQUAL want_dir)
  fail("find_package(duet) found ${duet_dir}, not the fresh install ${want_dir}")
endif()

# duet's include folder in the consumer's compile lines is the prefix's, never
# the source tree or the build tree's include/ symlink.
file(GLOB_RECURSE flag_files ${consumer_build}/build.ninja ${consumer_build}/CMakeFiles/*flags.make)
set(n_dirs 0)
foreach(f IN LISTS flag_files)
  file(STRINGS ${f} lines REGEX "^[ \t]*(CXX_)?INCLUDES = ")
  foreach(line IN LISTS lines)
    string(REGEX REPLACE "^[ \t]*(CXX_)?INCLUDES = " "" flags "${line}")
    separate_arguments(flags UNIX_COMMAND "${flags}")
    foreach(flag IN LISTS flags)
      if(flag MATCHES "^-(I|isystem)$")
        continue()
      endif()
      string(REGEX REPLACE "^-(I|isystem)" "" dir "${flag}")
      math(EXPR n_dirs "${n_dirs} + 1")
      if(NOT dir STREQUAL include_root)
        fail("the consumer compiles with include folder ${dir}, expected only ${include_root}")
      endif()
    endforeach()
  endforeach()
endforeach()
if(n_dirs EQUAL 0)
  fail("found no include folder in the consumer's build files")
endif()

step("build the consumer" ${CMAKE_COMMAND} --build ${consumer_build})

file(GLOB app ${consumer_build}/app ${consumer_build}/*/app)
if(NOT app)
  fail("the consumer built no 'app'")
endif()
list(GET app 0 app)
step("run the consumer" ${CMAKE_COMMAND} -E env --unset=LD_LIBRARY_PATH ${app})
message(STATUS "package.find_package: OK")
