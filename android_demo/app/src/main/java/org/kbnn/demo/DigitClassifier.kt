package org.kbnn.demo

import android.content.Context
import java.io.Closeable
import java.io.FileInputStream
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.nio.MappedByteBuffer
import java.nio.channels.FileChannel
import org.tensorflow.lite.Interpreter

/**
 * One model from the assets on the stock LiteRT Interpreter: the kbnn model with [KbnnDelegate]
 * attached, or the float twin on XNNPACK. Not thread-safe: use it from one thread.
 */
class DigitClassifier(
    context: Context,
    modelAsset: String,
    numThreads: Int,
    useKbnnDelegate: Boolean,
) : Closeable {
    private val delegate: KbnnDelegate? = if (useKbnnDelegate) KbnnDelegate(numThreads) else null
    private val interpreter: Interpreter
    private val input: ByteBuffer
    private val output: ByteBuffer
    private val numClasses: Int

    init {
        val options = Interpreter.Options()
            .setNumThreads(numThreads)
            .setUseXNNPACK(true)
        delegate?.let { options.addDelegate(it) }
        try {
            interpreter = Interpreter(mapAsset(context, modelAsset), options)
        } catch (e: RuntimeException) {
            delegate?.close()
            throw e
        }
        input = ByteBuffer.allocateDirect(interpreter.getInputTensor(0).numBytes())
            .order(ByteOrder.nativeOrder())
        val outputTensor = interpreter.getOutputTensor(0)
        output = ByteBuffer.allocateDirect(outputTensor.numBytes()).order(ByteOrder.nativeOrder())
        numClasses = outputTensor.numElements()
    }

    /** Class scores for one image given as the model's float input (64 pixels in [-1, 1]). */
    fun scores(pixels: FloatArray): FloatArray {
        require(pixels.size * 4 == input.capacity()) {
            "expected ${input.capacity() / 4} input values, got ${pixels.size}"
        }
        input.rewind()
        input.asFloatBuffer().put(pixels)
        output.rewind()
        interpreter.run(input, output)
        output.rewind()
        return FloatArray(numClasses).also { output.asFloatBuffer().get(it) }
    }

    /** Median wall time of one inference in microseconds over [runs] runs (after [warmup] runs). */
    fun medianLatencyMicros(pixels: FloatArray, runs: Int, warmup: Int = 5): Double {
        require(runs >= 1) { "runs must be >= 1, got $runs" }
        repeat(warmup) { scores(pixels) }
        val micros = DoubleArray(runs) {
            val start = System.nanoTime()
            scores(pixels)
            (System.nanoTime() - start) / 1000.0
        }
        micros.sort()
        return if (runs % 2 == 1) micros[runs / 2] else (micros[runs / 2 - 1] + micros[runs / 2]) / 2
    }

    override fun close() {
        interpreter.close()  // before the delegate it uses
        delegate?.close()
    }

    private companion object {
        fun mapAsset(context: Context, name: String): MappedByteBuffer =
            context.assets.openFd(name).use { fd ->
                FileInputStream(fd.fileDescriptor).use { stream ->
                    stream.channel.map(FileChannel.MapMode.READ_ONLY, fd.startOffset, fd.declaredLength)
                }
            }
    }
}

/** Index of the largest score. */
fun FloatArray.argmax(): Int = indices.maxByOrNull { this[it] } ?: -1
