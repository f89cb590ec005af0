# Install rules: headers, the exported targets, the command-line tools, and a package config with
# a version file, so that `find_package(invar CONFIG REQUIRED [COMPONENTS train report cuda mpi])`
# works after `cmake --install`.
include(CMakePackageConfigHelpers)

install(DIRECTORY include/invar DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS invar EXPORT invarTargets)
install(EXPORT invarTargets NAMESPACE invar:: DESTINATION ${CMAKE_INSTALL_DATADIR}/cmake/invar)

# Each opt-in component in its own export set, loaded (with its dependencies) only by
# find_package(invar COMPONENTS <name>): a user who needs none of them needs none of their packages.
set(INVAR_INSTALL_TRAIN OFF)
if(TARGET invar_train)
  set(INVAR_INSTALL_TRAIN ON)
  install(TARGETS invar_train EXPORT invarTrainTargets)
  install(EXPORT invarTrainTargets NAMESPACE invar:: DESTINATION ${CMAKE_INSTALL_DATADIR}/cmake/invar)
endif()
set(INVAR_INSTALL_REPORT OFF)
if(TARGET invar_report)
  set(INVAR_INSTALL_REPORT ON)
  install(TARGETS invar_report EXPORT invarReportTargets)
  install(EXPORT invarReportTargets NAMESPACE invar:: DESTINATION ${CMAKE_INSTALL_DATADIR}/cmake/invar)
  install(FILES ${PROJECT_SOURCE_DIR}/cmake/invarStb.cmake DESTINATION ${CMAKE_INSTALL_DATADIR}/cmake/invar)
endif()
set(INVAR_INSTALL_MPI OFF)
if(TARGET invar_mpi)
  set(INVAR_INSTALL_MPI ON)
  install(TARGETS invar_mpi EXPORT invarMpiTargets)
  install(EXPORT invarMpiTargets NAMESPACE invar:: DESTINATION ${CMAKE_INSTALL_DATADIR}/cmake/invar)
endif()
set(INVAR_INSTALL_CUDA OFF)
if(TARGET invar_cuda)
  set(INVAR_INSTALL_CUDA ON)
  install(TARGETS invar_cuda EXPORT invarCudaTargets)
  install(EXPORT invarCudaTargets NAMESPACE invar:: DESTINATION ${CMAKE_INSTALL_DATADIR}/cmake/invar)
  install(FILES ${PROJECT_SOURCE_DIR}/cmake/invarCuda.cmake DESTINATION ${CMAKE_INSTALL_DATADIR}/cmake/invar)
endif()

# The command-line tools (apps/invar_<name>.cpp -> invar-<name>: invar-train, invar-report) into
# bin/, where they were built (INVAR_BUILD_APPS and their packages found). Install component
# "apps": `cmake --install <build> --component apps` installs only them.
file(GLOB _invar_app_sources ${PROJECT_SOURCE_DIR}/apps/invar_*.cpp)
foreach(_src IN LISTS _invar_app_sources)
  get_filename_component(_stem ${_src} NAME_WE)
  string(REPLACE "_" "-" _app ${_stem})
  if(TARGET ${_app})
    install(TARGETS ${_app} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT apps)
  endif()
endforeach()

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/invarConfig.cmake.in
  ${PROJECT_BINARY_DIR}/invarConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_DATADIR}/cmake/invar)
# Header-only and architecture-independent: any 64- or 32-bit consumer may use it.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/invarConfigVersion.cmake
  COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES ${PROJECT_BINARY_DIR}/invarConfig.cmake ${PROJECT_BINARY_DIR}/invarConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_DATADIR}/cmake/invar)
install(FILES LICENSE README.md DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/invar OPTIONAL)
