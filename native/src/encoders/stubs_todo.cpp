// Placeholders so the core links while the towers are written; each definition moves to its real
// file (loader.cpp, encode.cpp) and this file is deleted.
#include "core/context.h"
#include "core/model.h"

namespace ggpt {
struct Encoders {};
struct EncoderState {};
void encoders_free(Encoders * enc) { delete enc; }
void encoder_state_free(EncoderState * s) { delete s; }
ggpt_status encoders_load(ggpt_model *, const char * path, bool, ggpt_progress_fn, void *, std::string & err) {
    err = std::string("encoders are not implemented yet (") + path + ")";
    return GGPT_ERR_UNSUPPORTED;
}
void encoders_fill_info(const ggpt_model *, ggpt_model_info *) {}
}  // namespace ggpt
