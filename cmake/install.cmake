# Install rules: headers, the exported target invar::invar, and a package config with a
# version file so that `find_package(invar CONFIG REQUIRED)` works after `cmake --install`.
include(CMakePackageConfigHelpers)

install(DIRECTORY include/invar DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS invar EXPORT invarTargets)
install(EXPORT invarTargets NAMESPACE invar:: DESTINATION ${CMAKE_INSTALL_DATADIR}/cmake/invar)

# The GPU target in its own export set, loaded only by find_package(invar COMPONENTS cuda).
set(INVAR_INSTALL_CUDA OFF)
if(TARGET invar_cuda)
  set(INVAR_INSTALL_CUDA ON)
  install(TARGETS invar_cuda EXPORT invarCudaTargets)
  install(EXPORT invarCudaTargets NAMESPACE invar:: DESTINATION ${CMAKE_INSTALL_DATADIR}/cmake/invar)
  install(FILES ${PROJECT_SOURCE_DIR}/cmake/invarCuda.cmake DESTINATION ${CMAKE_INSTALL_DATADIR}/cmake/invar)
endif()

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/invarConfig.cmake.in
  ${PROJECT_BINARY_DIR}/invarConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_DATADIR}/cmake/invar)
# Header-only and architecture-independent: any 64- or 32-bit consumer may use it.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/invarConfigVersion.cmake
  COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES ${PROJECT_BINARY_DIR}/invarConfig.cmake ${PROJECT_BINARY_DIR}/invarConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_DATADIR}/cmake/invar)
install(FILES LICENSE README.md DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/invar OPTIONAL)
