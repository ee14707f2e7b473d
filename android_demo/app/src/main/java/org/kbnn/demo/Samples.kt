package org.kbnn.demo

import android.content.Context
import android.graphics.Bitmap
import android.graphics.Color
import java.nio.ByteBuffer
import java.nio.ByteOrder
import org.json.JSONObject

/**
 * The bundled sample digits: samples.bin (float32 little-endian [count, height * width], pixels in
 * [-1, 1]) described by samples.json; both written by android_demo/scripts/make_assets.py.
 */
class Samples(val images: List<FloatArray>, val labels: List<Int>, val height: Int, val width: Int) {
    val size: Int get() = images.size

    /** The image as a grayscale bitmap (dark ink on white), one pixel per model input. */
    fun bitmap(index: Int): Bitmap {
        val pixels = images[index]
        val colors = IntArray(pixels.size) {
            val ink = ((pixels[it].coerceIn(-1f, 1f) + 1f) * 127.5f).toInt()
            val level = 255 - ink
            Color.rgb(level, level, level)
        }
        return Bitmap.createBitmap(colors, width, height, Bitmap.Config.ARGB_8888)
    }

    companion object {
        fun load(context: Context): Samples {
            val info = JSONObject(context.assets.open("samples.json").bufferedReader().use { it.readText() })
            val count = info.getInt("count")
            val height = info.getInt("height")
            val width = info.getInt("width")
            val labelsJson = info.getJSONArray("labels")
            val raw = context.assets.open("samples.bin").use { it.readBytes() }
            val perImage = height * width
            require(labelsJson.length() == count && raw.size == count * perImage * 4) {
                "samples.bin / samples.json disagree: ${raw.size} bytes for $count images of $perImage pixels"
            }
            val floats = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer()
            val images = List(count) { FloatArray(perImage).also { image -> floats.get(image) } }
            return Samples(images, List(count) { labelsJson.getInt(it) }, height, width)
        }
    }
}
