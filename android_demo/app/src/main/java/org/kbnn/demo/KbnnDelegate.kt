package org.kbnn.demo

import org.tensorflow.lite.Delegate

/** JNI entry points of libkbnn_jni.so (app/src/main/cpp/kbnn_jni.cc). */
internal object KbnnNative {
    init {
        System.loadLibrary("kbnn_jni")  // also loads libkbnn_delegate.so, which it links
    }

    /** Creates the kbnn delegate via `tflite_plugin_create_delegate`; returns the TfLiteDelegate*. */
    @JvmStatic
    external fun createDelegate(numThreads: Int): Long

    /** Destroys a delegate created by [createDelegate] via `tflite_plugin_destroy_delegate`. */
    @JvmStatic
    external fun destroyDelegate(handle: Long)
}

/**
 * The kbnn delegate (bitpacked kernels for the KbnnBconv2d / KbnnBfullyConnected / ... custom ops)
 * as a stock LiteRT [Delegate]: pass it to `Interpreter.Options.addDelegate`.
 *
 * Close it only after every Interpreter that uses it has been closed.
 *
 * @param numThreads threads of the delegate's own thread pool (>= 1).
 */
class KbnnDelegate(numThreads: Int) : Delegate {
    private var handle: Long

    init {
        require(numThreads >= 1) { "numThreads must be >= 1, got $numThreads" }
        handle = KbnnNative.createDelegate(numThreads)
    }

    override fun getNativeHandle(): Long {
        check(handle != 0L) { "KbnnDelegate is closed" }
        return handle
    }

    override fun close() {
        if (handle != 0L) {
            KbnnNative.destroyDelegate(handle)
            handle = 0L
        }
    }
}
