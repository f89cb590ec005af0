# stb (header-only; Debian: libstb-dev), the PNG encoder of invar::report (io/png.hpp, report/).
# Included by invar's CMakeLists.txt and, installed, by invarConfig.cmake for
# find_package(invar COMPONENTS report). Defines the imported target invar::stb where
# <stb/stb_image_write.h> is found; elsewhere set INVAR_STB_INCLUDE_DIR to the folder that holds stb/.
if(NOT TARGET invar::stb)
  find_path(INVAR_STB_INCLUDE_DIR stb/stb_image_write.h DOC "The folder that holds stb/stb_image_write.h")
  if(INVAR_STB_INCLUDE_DIR)
    add_library(invar::stb INTERFACE IMPORTED)
    set_target_properties(invar::stb PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${INVAR_STB_INCLUDE_DIR}")
  endif()
endif()
