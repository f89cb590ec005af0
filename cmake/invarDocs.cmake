# The `docs` target: the HTML API reference of include/invar/ with Doxygen (Debian: doxygen;
# scripts/install-deps.sh installs it), into <build>/docs/html/index.html. Without Doxygen the
# target does not exist (a status line says so). Warnings go to <build>/docs/doxygen-warnings.log;
# the build prints their number and fails when there is any (cmake/invarRunDoxygen.cmake). Not part of `all`:
#   cmake --build --preset release --target docs
find_package(Doxygen QUIET)
if(NOT DOXYGEN_FOUND)
  message(STATUS "invar: Doxygen not found (Debian: doxygen): no `docs` target (the API reference)")
  return()
endif()

set(INVAR_DOCS_OUTPUT_DIR ${PROJECT_BINARY_DIR}/docs)
set(INVAR_DOCS_WARNINGS_LOG ${INVAR_DOCS_OUTPUT_DIR}/doxygen-warnings.log)
configure_file(${PROJECT_SOURCE_DIR}/docs/Doxyfile.in ${INVAR_DOCS_OUTPUT_DIR}/Doxyfile @ONLY)
add_custom_target(docs
  COMMAND ${CMAKE_COMMAND} -DDOXYGEN=${DOXYGEN_EXECUTABLE} -DDOXYFILE=${INVAR_DOCS_OUTPUT_DIR}/Doxyfile
          -DWARNINGS_LOG=${INVAR_DOCS_WARNINGS_LOG} -DHTML_INDEX=${INVAR_DOCS_OUTPUT_DIR}/html/index.html
          -DSOURCE_DIR=${PROJECT_SOURCE_DIR} -P ${PROJECT_SOURCE_DIR}/cmake/invarRunDoxygen.cmake
  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
  COMMENT "Doxygen: the API reference of include/invar/ -> ${INVAR_DOCS_OUTPUT_DIR}/html"
  VERBATIM)
message(STATUS "invar: `docs` target: Doxygen ${DOXYGEN_VERSION} -> ${INVAR_DOCS_OUTPUT_DIR}/html")
