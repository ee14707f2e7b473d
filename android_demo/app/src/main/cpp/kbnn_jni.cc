// JNI layer of the demo: creates and destroys the kbnn delegate through its TFLite
// external-delegate plugin entry points (kernels/tflite) and hands the TfLiteDelegate* to Kotlin as
// a jlong, which org.tensorflow.lite.Interpreter.Options.addDelegate() receives via
// Delegate.getNativeHandle().
#include <android/log.h>
#include <jni.h>

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" {
struct TfLiteDelegate;
// The kbnn delegate's plugin ABI (kernels/tflite), the same entry points that TFLite's
// external-delegate loaders call.
TfLiteDelegate* tflite_plugin_create_delegate(char** keys, char** values, size_t num_options,
                                              void (*report_error)(const char*));
void tflite_plugin_destroy_delegate(TfLiteDelegate* delegate);
}

namespace {

constexpr char kTag[] = "kbnn";

void LogDelegateError(const char* message) {
  __android_log_write(ANDROID_LOG_ERROR, kTag, message);
}

void Throw(JNIEnv* env, const char* class_name, const char* message) {
  jclass cls = env->FindClass(class_name);
  if (cls != nullptr) env->ThrowNew(cls, message);
}

}  // namespace

extern "C" JNIEXPORT jlong JNICALL Java_org_kbnn_demo_KbnnNative_createDelegate(JNIEnv* env, jclass,
                                                                                jint num_threads) {
  if (num_threads < 1) {
    Throw(env, "java/lang/IllegalArgumentException", "numThreads must be >= 1");
    return 0;
  }
  std::string key = "num_threads";
  std::string value = std::to_string(num_threads);
  char* keys[] = {&key[0]};
  char* values[] = {&value[0]};
  TfLiteDelegate* delegate = tflite_plugin_create_delegate(keys, values, 1, LogDelegateError);
  if (delegate == nullptr) {
    Throw(env, "java/lang/IllegalStateException",
          "tflite_plugin_create_delegate failed (see logcat tag 'kbnn')");
    return 0;
  }
  return static_cast<jlong>(reinterpret_cast<uintptr_t>(delegate));
}

extern "C" JNIEXPORT void JNICALL Java_org_kbnn_demo_KbnnNative_destroyDelegate(JNIEnv*, jclass,
                                                                                jlong handle) {
  if (handle != 0) {
    tflite_plugin_destroy_delegate(
        reinterpret_cast<TfLiteDelegate*>(static_cast<uintptr_t>(handle)));
  }
}
