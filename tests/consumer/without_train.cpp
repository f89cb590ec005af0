// Includes a header of the component invar::train while the target links only invar::invar:
// this must fail to compile with an #error that names invar::train (scripts/check-consumer.sh
// checks both). Never built by default (EXCLUDE_FROM_ALL).
#include <invar/train/trainer.hpp>

int main() { return 0; }
